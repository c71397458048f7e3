#!/usr/bin/env bash
# Side-by-side comparison: the same `conclave bench` workloads against each system, in
# interleaved A/B rounds, on this machine, in this run. Prints a table of medians over the
# rounds and, per workload, each system's throughput as a ratio to etcd's.
#
# Systems: a 3-member real etcd (Debian's etcd-server) on loopback with its default fsync;
# SYSTEMS="etcd conclave" adds a 3-member Conclave (`conclave serve`, Release build) with the
# same heartbeat/election settings; both fsync on every commit.
#
# Usage: bench/compare.sh            (defaults below; override any by environment)
#   ROUNDS=3 DURATION=5s WARMUP=5s CLIENTS=16 CONNS=3 BASE_PORT=32379 SYSTEMS="etcd" bench/compare.sh
#   ONLY="put,range-l"   runs only the named workloads.
#   PACED_RATE=5000      the target rate (operations per second over all clients) of put-paced, and
#   TXN_PACED_RATE=2000  of txn-paced: the same offered load for both systems, below what either
#                        completes at 256 clients here, latency measured from each operation's
#                        scheduled start (a system that falls behind shows it).
#   FILL_KEYS=1000000    after the rounds, restarts each system on empty data dirs, fills it with that many distinct keys of
#                        256 B (bench/fill.py: transactions of 100 puts) and reports every member's
#                        peak and current RSS and data size then (the memory comparison).
# Writes one JSON report per run into RESULTS (default: a new temp dir, printed at the end).
# Needs: dotnet, etcd (scripts/install-test-deps.sh), jq. Stops every process it started.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-5s}                 # per workload and system before round 1, not measured; 0 skips
CLIENTS=${CLIENTS:-16}
CONNS=${CONNS:-3}
BASE_PORT=${BASE_PORT:-32379}
SYSTEMS=${SYSTEMS:-etcd}
ONLY=${ONLY:-}
FILL_KEYS=${FILL_KEYS:-0}
PACED_RATE=${PACED_RATE:-5000}
TXN_PACED_RATE=${TXN_PACED_RATE:-2000}
HEARTBEAT_MS=${HEARTBEAT_MS:-100}    # both systems; etcd's defaults
ELECTION_MS=${ELECTION_MS:-1000}
RESULTS=${RESULTS:-$(mktemp -d -t conclave-compare-XXXXXX)}
WORK=$(mktemp -d -t conclave-compare-data-XXXXXX)
mkdir -p "$RESULTS"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build src/Conclave/Conclave.csproj -c Release -v quiet -nologo >/dev/null
CONCLAVE=(dotnet src/Conclave/bin/Release/net10.0/conclave.dll)
# The load generator (the same for every system): .NET's HTTP/2 client rents 16–32 KB buffers per
# request from the shared array pool; with hundreds of requests in flight the pool's default of 32
# arrays per partition runs dry and every miss is a new array that survives into gen2 (measured:
# 15 KB allocated per put, 6 gen2 GCs per 10 s). A deeper pool makes the client's own GC noise small.
BENCH=(env DOTNET_SYSTEM_BUFFERS_SHAREDARRAYPOOL_MAXARRAYSPERPARTITION=512 "${CONCLAVE[@]}")

# Workloads: name|arguments. Every run adds --endpoints, --duration and --output json.
# The key space cmp/ is filled once per system before round 1 (see populate).
WORKLOADS=(
    "put|put --clients $CLIENTS --conns $CONNS --key-prefix cmp-put/ --key-space-size 10000 --val-size 256"
    "txn-put|txn-put --clients $CLIENTS --conns $CONNS --key-prefix cmp-txn/ --key-space-size 10000 --val-size 256 --txn-ops 4"
    "put-paced|put --clients $CLIENTS --conns $CONNS --key-prefix cmp-put/ --key-space-size 10000 --val-size 256 --rate $PACED_RATE"
    "txn-paced|txn-put --clients $CLIENTS --conns $CONNS --key-prefix cmp-txn/ --key-space-size 10000 --val-size 256 --txn-ops 4 --rate $TXN_PACED_RATE"
    "range-l|range --clients $CLIENTS --conns $CONNS --key cmp/00000042"
    "range-s|range --clients $CLIENTS --conns $CONNS --key cmp/00000042 --consistency s"
    "range-prefix|range --clients $CLIENTS --conns $CONNS --key cmp/ --prefix"
    "mixed|mixed --clients $CLIENTS --conns $CONNS --key-prefix cmp/ --key-size 12 --key-space-size 100 --val-size 256 --read-ratio 0.9"
    "watch|watch --clients 2 --conns $CONNS --watchers 100 --streams 4 --put-rate 200 --key-prefix cmp-watch/ --key-space-size 10"
    "lease-keepalive|lease-keepalive --clients $CLIENTS --conns $CONNS"
    "lock|lock --clients 4 --conns $CONNS --lock-name cmp-lock/mutex"
)

if [ -n "$ONLY" ]; then
    selected=()
    for workload in "${WORKLOADS[@]}"; do
        [[ ",$ONLY," == *",${workload%%|*},"* ]] && selected+=("$workload")
    done
    WORKLOADS=("${selected[@]}")
fi

declare -A PIDS=()        # system -> space-separated pids this script started
declare -A ENDPOINTS=()   # system -> comma-separated host:port of its members

# Stops the members of $1 that this script started (SIGTERM, then waits for each).
stop_members() {
    local pid
    for pid in ${PIDS[$1]:-}; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    PIDS[$1]=""
}
etcd_stop() { stop_members etcd; }
conclave_stop() { stop_members conclave; }

cleanup() {
    local system
    for system in "${!PIDS[@]}"; do
        "${system}_stop"
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

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
            --initial-cluster-token etcd-compare \
            --heartbeat-interval "$HEARTBEAT_MS" --election-timeout "$ELECTION_MS" \
            --log-level error >"$WORK/etcd-$i.log" 2>&1 &
        PIDS[etcd]+="$! "
    done
    ENDPOINTS[etcd]=$endpoints
    wait_ready etcd
}

etcd_version() { etcd --version | head -1; }

# ---- conclave: 3 members on 127.0.0.1, client ports BASE_PORT+100..+102, peer ports
# BASE_PORT+110..+112, metrics ports BASE_PORT+120..+122 (each member needs its own; the
# default 2381 would collide). Conclave fsyncs its WAL on every commit (its only mode), as etcd
# does by default; heartbeat and election timeout are given explicitly to both systems.
conclave_start() {
    local cluster="" endpoints="" i
    for i in 0 1 2; do
        cluster+="${cluster:+,}c$i=http://127.0.0.1:$((BASE_PORT + 110 + i))"
        endpoints+="${endpoints:+,}127.0.0.1:$((BASE_PORT + 100 + i))"
    done
    PIDS[conclave]=""
    for i in 0 1 2; do
        # env -i: Conclave reads CONCLAVE_* variables as settings; none of the caller's may leak in.
        env -i PATH="$PATH" HOME="${HOME:-/tmp}" DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 \
            "${CONCLAVE[@]}" serve --name "c$i" --data-dir "$WORK/conclave-$i" \
            --listen-client-urls "http://127.0.0.1:$((BASE_PORT + 100 + i))" \
            --advertise-client-urls "http://127.0.0.1:$((BASE_PORT + 100 + i))" \
            --listen-peer-urls "http://127.0.0.1:$((BASE_PORT + 110 + i))" \
            --initial-advertise-peer-urls "http://127.0.0.1:$((BASE_PORT + 110 + i))" \
            --listen-metrics-urls "http://127.0.0.1:$((BASE_PORT + 120 + i))" \
            --initial-cluster "$cluster" --initial-cluster-state new \
            --initial-cluster-token conclave-compare \
            --heartbeat-interval "$HEARTBEAT_MS" --election-timeout "$ELECTION_MS" \
            >"$WORK/conclave-$i.log" 2>&1 &
        PIDS[conclave]+="$! "
    done
    ENDPOINTS[conclave]=$endpoints
    wait_ready conclave
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
    if ! "${BENCH[@]}" bench $@ --endpoints "${ENDPOINTS[$system]}" --duration "$DURATION" \
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

# Warm-up, not measured: every workload runs once for WARMUP on every system, so that the rounds
# see steady state (Conclave's JIT has compiled the hot paths with its optimizing tier; both
# systems' caches and connections are warm).
if [ "$WARMUP" != "0" ] && [ "$WARMUP" != "0s" ]; then
    for system in "${systems[@]}"; do
        for workload in "${WORKLOADS[@]}"; do
            echo "compare: warm-up ${workload%%|*} on $system" >&2
            # shellcheck disable=SC2086 # the workload's arguments are meant to split
            "${BENCH[@]}" bench ${workload#*|} --endpoints "${ENDPOINTS[$system]}" --duration "$WARMUP" \
                --output json --no-progress >/dev/null 2>&1 || true
        done
    done
fi

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

# Footprint, taken while the members still run: peak resident memory (VmHWM) of each member
# and the size of each member's data dir.
declare -A FOOTPRINT=()
for system in "${systems[@]}"; do
    line=""
    i=0
    for pid in ${PIDS[$system]}; do
        hwm=$(awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null || echo "?")
        line+="${line:+  }m$i ${hwm:-?} MB"
        i=$((i + 1))
    done
    disk=$(du -sm "$WORK/$system"-[0-9] 2>/dev/null | awk '{ printf "%s%s MB", (NR > 1 ? " + " : ""), $1 }')
    FOOTPRINT[$system]="peak RSS per member: $line; data on disk per member: $disk"
done

# Memory at FILL_KEYS keys: each system is filled the same way, then every member's peak (VmHWM)
# and current (VmRSS) resident memory and its data dir are read.
declare -A FILLED=()
if ((FILL_KEYS > 0)); then
    for system in "${systems[@]}"; do
        # On an empty cluster: the rounds above left each system a different amount of history
        # (Conclave keeps it in memory, etcd in its mmap'd file), which is not what is compared here.
        echo "compare: restarting $system on empty data dirs" >&2
        "${system}_stop"
        rm -rf "$WORK/$system"-[0-9] "$WORK/$system"-[0-9].log
        "${system}_start"
        echo "compare: filling $system with $FILL_KEYS keys" >&2
        fill=$(bench/fill.py "${ENDPOINTS[$system]}" --keys "$FILL_KEYS" --val-size 256 --txn-ops 100 --threads 8 2>&1 | tail -1 || true)
        line=""
        i=0
        for pid in ${PIDS[$system]}; do
            mem=$(awk '/^VmHWM:/ { h = $2 } /^VmRSS:/ { r = $2 } END { printf "%.0f/%.0f", h / 1024, r / 1024 }' "/proc/$pid/status" 2>/dev/null || echo "?")
            line+="${line:+  }m$i $mem MB"
            i=$((i + 1))
        done
        disk=$(du -sm "$WORK/$system"-[0-9] 2>/dev/null | awk '{ printf "%s%s MB", (NR > 1 ? " + " : ""), $1 }')
        FILLED[$system]="peak/current RSS per member: $line; data on disk per member: $disk ($fill)"
    done
fi

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
# Medians over the rounds of one workload on one system: "ops/s p50 p99", or nothing when
# every round failed.
medians() { # workload-name system
    local files=("$RESULTS/$1.$2".*.json) stats
    [ -e "${files[0]}" ] || return 0
    stats=$(jq -r '
        (if .workload == "watch" then .series[1] else .series[0] end) as $lat
        | [ ([.series[] | select(.name != "event") | .opsPerSecond] | add), $lat.latencyMs.p50, $lat.latencyMs.p99 ] | @tsv' "${files[@]}")
    echo "$(cut -f1 <<<"$stats" | median) $(cut -f2 <<<"$stats" | median) $(cut -f3 <<<"$stats" | median)"
}

# Ratios Conclave/etcd of the medians. Rounds that failed (no report) are named with the first
# line of their error, and operations that failed inside a run are counted, so nothing is hidden.
if [[ " ${systems[*]} " == *" etcd "* && " ${systems[*]} " == *" conclave "* ]]; then
    echo
    echo "conclave / etcd, medians over rounds (ops/s: >1 means Conclave does more; p50, p99: <1 means Conclave is faster)"
    printf '%-16s %9s %9s %9s  %s\n' workload "ops/s" "p50" "p99" "failures"
    for workload in "${WORKLOADS[@]}"; do
        name=${workload%%|*}
        e=$(medians "$name" etcd)
        c=$(medians "$name" conclave)
        note=""
        for system in etcd conclave; do
            failed=$(find "$RESULTS" -name "$name.$system.*.json.err" ! -size 0 2>/dev/null | wc -l)
            oks=("$RESULTS/$name.$system".*.json)
            operrors=0
            [ -e "${oks[0]}" ] && operrors=$(jq -s '[.[].series[].errorCount] | add' "${oks[@]}")
            if ((failed > 0)); then
                first=$(find "$RESULTS" -name "$name.$system.*.json.err" ! -size 0 | head -1)
                note+="$system: $failed/$ROUNDS rounds failed ($(tr '\n' ' ' <"$first" | cut -c1-120)) "
            fi
            if ((operrors > 0)); then
                errs=$(jq -rs '[.[].series[].errors | to_entries[]] | group_by(.key) | map("\(.[0].key)=\(map(.value) | add)") | join(",")' "${oks[@]}")
                note+="$system: $operrors failed ops ($errs) "
            fi
        done
        if [ -z "$e" ] || [ -z "$c" ]; then
            printf '%-16s %9s %9s %9s  %s\n' "$name" "-" "-" "-" "${note:-no report}"
            continue
        fi
        read -r eo e50 e99 <<<"$e"
        read -r co c50 c99 <<<"$c"
        ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
        printf '%-16s %9s %9s %9s  %s\n' "$name" "$(ratio "$co" "$eo")" "$(ratio "$c50" "$e50")" "$(ratio "$c99" "$e99")" "${note:-none}"
    done
fi

echo
for system in "${systems[@]}"; do echo "$system: ${FOOTPRINT[$system]}"; done
if ((FILL_KEYS > 0)); then
    echo
    echo "memory at $FILL_KEYS keys x 256 B:"
    for system in "${systems[@]}"; do echo "$system: ${FILLED[$system]}"; done
fi
echo "reports: $RESULTS"
