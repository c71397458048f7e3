#!/bin/bash
# Per-endpoint put latency, etcd and Conclave: 3 members each on loopback (ports 260xx, 261xx), then
# 256 clients on ONE connection to the leader, then to a follower, 2 rounds of 8 s each, after a warm-up.
# Shows whether the write tail comes from requests a follower forwards. Needs dotnet and etcd; stops what it started.
cd "$(dirname "$0")/.."
dotnet build src/Conclave/Conclave.csproj -c Release -v quiet -nologo >/dev/null
C="dotnet src/Conclave/bin/Release/net10.0/conclave.dll"
B="env DOTNET_SYSTEM_BUFFERS_SHAREDARRAYPOOL_MAXARRAYSPERPARTITION=512 $C"
D=$(mktemp -d -t conclave-endpoint-latency-XXXXXX)
pids=""
trap 'kill $pids 2>/dev/null; wait; rm -rf "$D"' EXIT
run_sys() { # name startfn
  local sys=$1 eps=$2
  for i in $(seq 1 120); do $C endpoint health --endpoints $eps >/dev/null 2>&1 && break; sleep 0.5; done
  local leader=$($C endpoint status --endpoints $eps -o json 2>/dev/null | python3 -c 'import sys,json
d=json.load(sys.stdin)
rows=d if isinstance(d,list) else d.get("endpoints",d.get("members",[]))
print([r for r in rows if r.get("is_leader")][0]["endpoint"])' 2>/dev/null)
  local follower=$(echo $eps | tr ',' '\n' | grep -v "$leader" | head -1)
  echo "$sys leader=$leader follower=$follower"
  $B bench put --endpoints $eps --clients 256 --conns 3 --key-space-size 10000 --val-size 256 --duration 5s --no-progress >/dev/null 2>&1
  for r in 1 2; do
    for ep in $leader $follower; do
      $B bench put --endpoints $ep --clients 256 --conns 1 --key-space-size 10000 --val-size 256 --duration 8s --no-progress 2>&1 | grep -E "^│ put" | sed "s/^/$sys $( [ $ep = $leader ] && echo leader || echo follower) r$r /"
    done
  done
}
pids=""
for i in 0 1 2; do
  env -i PATH="$PATH" etcd --name e$i --data-dir $D/e$i --listen-client-urls http://127.0.0.1:2600$i --advertise-client-urls http://127.0.0.1:2600$i \
    --listen-peer-urls http://127.0.0.1:2601$i --initial-advertise-peer-urls http://127.0.0.1:2601$i \
    --initial-cluster e0=http://127.0.0.1:26010,e1=http://127.0.0.1:26011,e2=http://127.0.0.1:26012 --initial-cluster-state new --initial-cluster-token x --log-level error > $D/e$i.log 2>&1 &
  pids="$pids $!"
done
run_sys etcd 127.0.0.1:26000,127.0.0.1:26001,127.0.0.1:26002
kill $pids; wait
pids=""
for i in 0 1 2; do
  $C serve --name c$i --data-dir $D/c$i --listen-client-urls http://127.0.0.1:2610$i --advertise-client-urls http://127.0.0.1:2610$i \
   --listen-peer-urls http://127.0.0.1:2611$i --initial-advertise-peer-urls http://127.0.0.1:2611$i --listen-metrics-urls http://127.0.0.1:2612$i \
   --initial-cluster c0=http://127.0.0.1:26110,c1=http://127.0.0.1:26111,c2=http://127.0.0.1:26112 --initial-cluster-state new --initial-cluster-token b > $D/c$i.log 2>&1 &
  pids="$pids $!"
done
run_sys conclave 127.0.0.1:26100,127.0.0.1:26101,127.0.0.1:26102
kill $pids; wait; pids=""
