#!/usr/bin/env bash
# Long robustness soak: back-to-back bounded runs of the robustness harness against real
# `conclave serve` processes until the total fault time is reached, each with its own seed,
# its own final restart and its own full check (linearizability, durability, watch delivery).
#
#   scripts/soak.sh [TOTAL] [RUN] [FIRST_SEED] [MEMBERS]     e.g. scripts/soak.sh 1h 5m 201 3
#
# Why runs and not one long run: the linearizability search keeps a set of the operations
# already placed for every state it caches, so its memory and time grow with the square of a
# key's history; a 30-minute single run (728k operations) exhausted the checker's 120 s budget
# and left the history undecided. Runs of 5 minutes (~30k–120k operations) check in seconds.
# A run that fails prints its reproduce command and the folder with its history; the soak goes
# on and exits 1 at the end if any run failed. The summary line of every run is printed.
set -uo pipefail
cd "$(dirname "$0")/.."

total=${1:-1h}
run=${2:-5m}
seed=${3:-1}
members=${4:-3}

seconds() {
    case "$1" in
        *h) echo $(( ${1%h} * 3600 )) ;;
        *m) echo $(( ${1%m} * 60 )) ;;
        *s) echo "${1%s}" ;;
        *) echo "$1" ;;
    esac
}

total_s=$(seconds "$total")
run_s=$(seconds "$run")
if (( total_s <= 0 || run_s <= 0 )); then
    echo "soak: TOTAL and RUN must be positive durations like 1h, 5m, 90s" >&2
    exit 2
fi

dotnet build -c Release src/Conclave -v q -nologo >/dev/null || exit 2
dotnet build -c Release tests/Conclave.Robustness -v q -nologo >/dev/null || exit 2

done_s=0
runs=0
failed=0
while (( done_s < total_s )); do
    this=$(( total_s - done_s < run_s ? total_s - done_s : run_s ))
    echo "=== seed $seed, ${this}s of faults, started $(date -u +%FT%TZ)"
    dotnet run -c Release --no-build --project tests/Conclave.Robustness -- \
        --target conclave --members "$members" --duration "${this}s" --seed "$seed" |
        grep -v -E '^ *[0-9.]+s (fault|before recovery|recovered: True)'
    status=${PIPESTATUS[0]}
    echo "=== seed $seed exit $status, ended $(date -u +%FT%TZ)"
    (( status == 0 )) || failed=$(( failed + 1 ))
    (( status == 3 )) && break
    runs=$(( runs + 1 ))
    done_s=$(( done_s + this ))
    seed=$(( seed + 1 ))
done

echo "soak: $runs runs, ${done_s}s of faults, $failed failed"
(( failed == 0 ))
