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

# "Passed!  - Failed:     0, Passed:    42, Skipped:     0, Total:    42" one line per test project
awk '/(Passed|Failed)! +- +Failed:/ {
        gsub(",", ""); for (i = 1; i <= NF; i++) {
          if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) } }
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit $status
