#!/usr/bin/env bash
# Runs the whole default test suite: restores, builds with warnings as errors, runs every test
# project, and ends with one line "N passed, N failed, N skipped".
# Longer soak runs are separate commands (see the README).
set -euo pipefail
cd "$(dirname "$0")"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# The real clients the compatibility tests drive (etcd, etcdctl, python3-etcd3), from Debian.
scripts/install-test-deps.sh

dotnet restore Conclave.slnx
dotnet build Conclave.slnx --no-restore -c Release
dotnet format Conclave.slnx --verify-no-changes --no-restore

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
dotnet test Conclave.slnx --no-build -c Release --logger "console;verbosity=normal" 2>&1 | tee "$log" || status=$?

# Each test project ends with a block "Total tests: N / Passed: N / Failed: N / Skipped: N"
# (lines absent when zero); add them up into one closing line.
awk '/^Total tests:/ { t += $3 }
     /^ +Passed: +[0-9]+$/ { p += $2 }
     /^ +Failed: +[0-9]+$/ { f += $2 }
     /^ +Skipped: +[0-9]+$/ { s += $2 }
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s
           if (t == 0) { print "no test ran" > "/dev/stderr"; exit 1 } }' "$log" || status=1
exit $status
