#!/usr/bin/env bash
# Side-by-side comparison: the same `conclave bench` workloads against each system, in
# interleaved A/B rounds, on this machine, in this run. Prints a table of medians over the
# rounds and, per workload, each system's throughput as a ratio to etcd's.
#
# Today the only system is a 3-member real etcd (Debian's etcd-server) on loopback with its
# default fsync. Adding Conclave means writing conclave_start / conclave_stop (templates
# below) and adding "conclave" to SYSTEMS.
#
# Usage: bench/compare.sh            (defaults below; override any by environment)
#   ROUNDS=3 DURATION=5s CLIENTS=16 CONNS=3 BASE_PORT=32379 SYSTEMS="etcd" bench/compare.sh
# Writes one JSON report per run into RESULTS (default: a new temp dir, printed at the end).
# Needs: dotnet, etcd (scripts/install-test-deps.sh), jq. Stops every process it started.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CLIENTS=${CLIENTS:-16}
CONNS=${CONNS:-3}
BASE_PORT=${BASE_PORT:-32379}
SYSTEMS=${SYSTEMS:-etcd}
RESULTS=${RESULTS:-$(mktemp -d -t conclave-compare-XXXXXX)}
WORK=$(mktemp -d -t conclave-compare-data-XXXXXX)
mkdir -p "$RESULTS"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build src/Conclave/Conclave.csproj -c Release -v quiet -nologo >/dev/null
CONCLAVE=(dotnet src/Conclave/bin/Release/net10.0/conclave.dll)

# Workloads: name|arguments. Every run adds --endpoints, --duration and --output json.
# The key space cmp/ is filled once per system before round 1 (see populate).
WORKLOADS=(
    "put|put --clients $CLIENTS --conns $CONNS --key-prefix cmp-put/ --key-space-size 10000 --val-size 256"
    "txn-put|txn-put --clients $CLIENTS --conns $CONNS --key-prefix cmp-txn/ --key-space-size 10000 --val-size 256 --txn-ops 4"
    "range-l|range --clients $CLIENTS --conns $CONNS --key cmp/00000042"
    "range-s|range --clients $CLIENTS --conns $CONNS --key cmp/00000042 --consistency s"
    "range-prefix|range --clients $CLIENTS --conns $CONNS --key cmp/ --prefix"
    "mixed|mixed --clients $CLIENTS --conns $CONNS --key-prefix cmp/ --key-size 12 --key-space-size 100 --val-size 256 --read-ratio 0.9"
    "watch|watch --clients 2 --conns $CONNS --watchers 100 --streams 4 --put-rate 200 --key-prefix cmp-watch/ --key-space-size 10"
    "lease-keepalive|lease-keepalive --clients $CLIENTS --conns $CONNS"
    "lock|lock --clients 4 --conns $CONNS --lock-name cmp-lock/mutex"
)

declare -A PIDS=()        # system -> space-separated pids this script started
declare -A ENDPOINTS=()   # system -> comma-separated host:port of its members

cleanup() {
    for system in "${!PIDS[@]}"; do
        for pid in ${PIDS[$system]}; do
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        done
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# Waits until `conclave bench` can reach every member of $1 (its endpoint check needs a leader).
wait_ready() {
    local system=$1
    for _ in $(seq 1 60); do
        if "${CONCLAVE[@]}" bench range --endpoints "${ENDPOINTS[$system]}" --conns 3 --total 1 --output json --no-progress >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.5
    done
    echo "compare: $system did not become ready at ${ENDPOINTS[$system]}" >&2
    return 1
}

# ---- etcd: 3 members on 127.0.0.1, client ports BASE_PORT..+2, peer ports BASE_PORT+10..+12.
etcd_start() {
    local cluster="" endpoints="" i
    for i in 0 1 2; do
        cluster+="${cluster:+,}e$i=http://127.0.0.1:$((BASE_PORT + 10 + i))"
        endpoints+="${endpoints:+,}127.0.0.1:$((BASE_PORT + i))"
    done
    PIDS[etcd]=""
    for i in 0 1 2; do
        # env -i: etcd reads ETCD_* variables as flags; none of the caller's may leak in.
        env -i PATH="$PATH" etcd --name "e$i" --data-dir "$WORK/etcd-$i" \
            --listen-client-urls "http://127.0.0.1:$((BASE_PORT + i))" \
            --advertise-client-urls "http://127.0.0.1:$((BASE_PORT + i))" \
            --listen-peer-urls "http://127.0.0.1:$((BASE_PORT + 10 + i))" \
            --initial-advertise-peer-urls "http://127.0.0.1:$((BASE_PORT + 10 + i))" \
            --initial-cluster "$cluster" --initial-cluster-state new \
            --log-level error >"$WORK/etcd-$i.log" 2>&1 &
        PIDS[etcd]+="$! "
    done
    ENDPOINTS[etcd]=$endpoints
    wait_ready etcd
}

etcd_version() { etcd --version | head -1; }

# ---- conclave: to be written once `conclave serve` exists. Same shape as etcd_start:
# start 3 members on 127.0.0.1 (client ports BASE_PORT+100..+102), record their pids in
# PIDS[conclave] and "host:port,..." in ENDPOINTS[conclave], then wait_ready conclave.
conclave_start() {
    echo "compare: conclave has no 'serve' command yet; run with SYSTEMS=etcd" >&2
    return 1
}

conclave_version() { "${CONCLAVE[@]}" --version; }

# Fills the key space the read workloads use: cmp/00000000 .. cmp/00000099, 256-byte values.
populate() {
    "${CONCLAVE[@]}" bench put --endpoints "${ENDPOINTS[$1]}" --total 100 --key-space-size 100 --sequential-keys \
        --key-prefix cmp/ --key-size 12 --val-size 256 --output json --no-progress >/dev/null
}

# CPU seconds (user + system) used so far by all members of $1, from /proc.
server_cpu() {
    local pid ticks=0
    for pid in ${PIDS[$1]}; do
        ticks=$((ticks + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
    done
    awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'
}

# Resident memory in MB of all members of $1 now.
server_rss() {
    local pid kb=0
    for pid in ${PIDS[$1]}; do
        kb=$((kb + $(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")))
    done
    echo $((kb / 1024))
}

# Runs one workload on one system; adds the members' CPU time during the run and their memory
# after it to the report as "server": {"cpuSeconds", "rssMb"}.
run() { # system workload-name round args...
    local system=$1 name=$2 round=$3
    shift 3
    local out="$RESULTS/$name.$system.$round.json" cpu_before cpu_after
    cpu_before=$(server_cpu "$system")
    # shellcheck disable=SC2068 # the workload's arguments are meant to split
    if ! "${CONCLAVE[@]}" bench $@ --endpoints "${ENDPOINTS[$system]}" --duration "$DURATION" \
        --output json --no-progress >"$out.tmp" 2>"$out.err"; then
        echo "compare: $name on $system failed: $(cat "$out.err")" >&2
        rm -f "$out.tmp"
    else
        cpu_after=$(server_cpu "$system")
        jq --argjson cpu "$(awk -v a="$cpu_after" -v b="$cpu_before" 'BEGIN { printf "%.2f", a - b }')" \
            --argjson rss "$(server_rss "$system")" '. + { server: { cpuSeconds: $cpu, rssMb: $rss } }' "$out.tmp" >"$out"
        rm -f "$out.tmp"
    fi
    [ -s "$out.err" ] || rm -f "$out.err"
}

# Median of the numbers on stdin, one per line.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

read -r -a systems <<<"$SYSTEMS"
for system in "${systems[@]}"; do
    "${system}_start"
    populate "$system"
done

# Interleaved rounds: each workload runs on every system back to back, the system order
# reversed every other round, so drift over the run (page cache, other load) hits all alike.
for round in $(seq 1 "$ROUNDS"); do
    order=("${systems[@]}")
    if ((round % 2 == 0)); then
        mapfile -t order < <(printf '%s\n' "${systems[@]}" | tac)
    fi
    for workload in "${WORKLOADS[@]}"; do
        name=${workload%%|*}
        for system in "${order[@]}"; do
            echo "compare: round $round/$ROUNDS $name on $system" >&2
            run "$system" "$name" "$round" "${workload#*|}"
        done
    done
done

# Table: per workload and system, medians over the rounds of throughput and of the latency
# percentiles of the series that matters (watch: event delivery; mixed: reads and writes
# together by throughput, latency of reads), the total of errors over all rounds, the members'
# CPU use (100 % = one core busy for the whole run, summed over members) and memory.
echo
echo "conclave bench comparison — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $ROUNDS rounds x $DURATION, clients $CLIENTS, conns $CONNS"
for system in "${systems[@]}"; do echo "  $system: $("${system}_version")"; done
printf '%-16s %-9s %10s %8s %8s %8s %8s %7s %8s %8s %7s\n' workload system "ops/s" "p50 ms" "p90 ms" "p99 ms" "max ms" errors "vs etcd" "srv cpu" "srv MB"
for workload in "${WORKLOADS[@]}"; do
    name=${workload%%|*}
    etcd_ops=""
    for system in "${systems[@]}"; do
        files=("$RESULTS/$name.$system".*.json)
        [ -e "${files[0]}" ] || { printf '%-16s %-9s %10s\n' "$name" "$system" "failed"; continue; }
        # One line per round: ops/s (all series of the load clients), p50 p90 p99 max, errors,
        # members' CPU % and MB.
        stats=$(jq -r '
            (if .workload == "watch" then .series[1] else .series[0] end) as $lat
            | [ ([.series[] | select(.name != "event") | .opsPerSecond] | add),
                $lat.latencyMs.p50, $lat.latencyMs.p90, $lat.latencyMs.p99, $lat.latencyMs.max,
                ([.series[].errorCount] | add),
                (100 * .server.cpuSeconds / .elapsedSeconds), .server.rssMb ] | @tsv' "${files[@]}")
        ops=$(cut -f1 <<<"$stats" | median)
        p50=$(cut -f2 <<<"$stats" | median)
        p90=$(cut -f3 <<<"$stats" | median)
        p99=$(cut -f4 <<<"$stats" | median)
        max=$(cut -f5 <<<"$stats" | median)
        errors=$(cut -f6 <<<"$stats" | awk '{ s += $1 } END { print s }')
        cpu=$(cut -f7 <<<"$stats" | median)
        rss=$(cut -f8 <<<"$stats" | median)
        [ "$system" = etcd ] && etcd_ops=$ops
        ratio=$(awk -v a="$ops" -v b="$etcd_ops" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }')
        printf '%-16s %-9s %10.0f %8.2f %8.2f %8.2f %8.2f %7d %8s %7.0f%% %7d\n' "$name" "$system" "$ops" "$p50" "$p90" "$p99" "$max" "$errors" "$ratio" "$cpu" "$rss"
    done
done
echo "reports: $RESULTS"
