#!/usr/bin/env bash
# Installs the third-party tools the etcd compatibility tests drive: Debian's etcd server,
# etcdctl and python3-etcd3. Idempotent: prints nothing and exits 0 when all are present.
# Runs `apt-get update` at most once, and only when something is missing. Exits non-zero,
# with a message on stderr, when a tool cannot be installed. Must run as root (CI does).
#
# python3-etcd3 is a Debian package for /usr/bin/python3; the `python3` on PATH may be a
# pyenv interpreter that cannot see it, so the check always uses /usr/bin/python3.
set -euo pipefail

missing=()
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
if ! /usr/bin/python3 -c 'import etcd3' >/dev/null 2>&1; then
    missing+=(python3-etcd3)
fi

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-test-deps: need root to install: ${missing[*]}" >&2
    exit 1
fi

echo "install-test-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -qq >/dev/null; then
    echo "install-test-deps: apt-get update failed" >&2
    exit 1
fi
# Debian's etcd-server starts a system service when it can; policy-rc.d keeps it from
# running (and holding port 2379) on machines that have an init system.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    created_policy=1
fi
status=0
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
if [ "$created_policy" -eq 1 ]; then
    rm -f "$policy"
fi
if [ "$status" -ne 0 ]; then
    echo "install-test-deps: apt-get install ${missing[*]} failed (exit $status)" >&2
    exit 1
fi

# Verify: a package that installed but does not provide what the tests run is a failure.
failed=()
command -v etcd >/dev/null 2>&1 || failed+=(etcd)
command -v etcdctl >/dev/null 2>&1 || failed+=(etcdctl)
/usr/bin/python3 -c 'import etcd3' >/dev/null 2>&1 || failed+=("python3-etcd3 (/usr/bin/python3 -c 'import etcd3')")
if [ "${#failed[@]}" -ne 0 ]; then
    echo "install-test-deps: still missing after install: ${failed[*]}" >&2
    exit 1
fi
echo "install-test-deps: installed ${missing[*]}" >&2
