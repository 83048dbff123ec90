#!/usr/bin/env bash
# What a fleet costs (issue 19), side by side in one run; targets are ratios and bounds, not tests:
#   1. Group checkpoint latency: 30 volumes over 3 nodes (10 each) on loopback, asked at node 0's admin socket
#      (tools/admin.py, no dmera process per request): median and p90 over ROUNDS. Target < 50 ms.
#   2. The write stall it causes: fio 4k randwrite at QD1 on one group volume of each node, with a group
#      checkpoint of the 30 every 200 ms against none: completion latency max and p99.9.
#   3. The cost to a node's I/O of being a fleet member: steady 4k randwrite and randread at QD16 on a volume of
#      node 0 (not in the groups) against the same volume on a daemon with no fleet flags, both alive at once,
#      alternating which goes first. Target: member >= 0.98x.
#   4. One daemon with 64 volumes against one with a single volume under the same total load: 64 fio jobs at
#      QD2, 4k randwrite then randread, job i on volume i (16 MiB each) or on the i-th 16 MiB of one 1 GiB
#      volume. Target >= 0.95x.
#   In 3 and 4, "randwrite" starts in a fresh era (a checkpoint), so first writes wait for commits in both;
#   "steady" is randwrite right after a sequential pass over the volume(s): every block already written in
#   the era, no commit on the path.
# Usage: bench/fleet/run.sh [ROUNDS=30] [SECONDS=10] [IO_ROUNDS=3]
# Everything listens on loopback (free ports) or Unix sockets; all it started is stopped by pid on exit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
top="$(cd "$here/../.." && pwd)"
source "$top/bench/free-port.sh"
rounds=${1:-30} seconds=${2:-10} io_rounds=${3:-3}
work="$(mktemp -d /tmp/dmera-bench-fleet.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for i in $(seq 1 20); do alive=0; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done; (( alive )) || break; sleep 0.5; done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
dotnet build -c Release "$top/src/DmEra" -o "$work/dmera" > /dev/null
adm() { timeout 120 $py "$here/admin.py" "$@"; }
# 64 fio threads connect at once: more than the handshakes the server lets wait by default (16).
{ cat "$work/dmera/akka.hocon"; echo "dmera.nbd.max-handshaking-connections = 100"; } > "$work/bench.hocon"

# serve NAME [fleet args...]; volumes come from $work/NAME/volumes (one spec a line)
serve() {
  local name=$1; shift
  local dir="$work/$name" args=()
  while read -r v; do args+=(--volume "$v"); done < "$dir/volumes"
  dotnet "$work/dmera/dmera.dll" serve --config "$work/bench.hocon" "${args[@]}" --listen 127.0.0.1:0 --socket "$dir/nbd.sock" \
    --admin-socket "$dir/admin.sock" "$@" > "$dir/dmera.log" 2>&1 &
  pids+=($!)
}
volume() {   # DAEMON VOLUME SIZE
  mkdir -p "$work/$1"
  truncate -s "$3" "$work/$1/$2.img"; truncate -s 8M "$work/$1/$2.meta"
  echo "name=$2,origin=$work/$1/$2.img,metadata=$work/$1/$2.meta,block-size=128" >> "$work/$1/volumes"
}
uri() { echo "nbd+unix:///$2?socket=$work/$1/nbd.sock"; }

ports=()
while (( ${#ports[@]} < 3 )); do p=$(free_port); [[ " ${ports[*]} " == *" $p "* ]] || ports+=("$p"); done
seeds=(); for p in "${ports[@]}"; do seeds+=(--cluster-seed "127.0.0.1:$p"); done
group=()
for n in 0 1 2; do
  for v in $(seq 1 10); do volume "n$n" "n${n}v$v" 64M; group+=("n${n}v$v"); done
done
volume n0 io 256M
volume solo io 256M
for v in $(seq 1 64); do volume many "m$v" 16M; done
volume one one 1G
for n in 0 1 2; do serve "n$n" --cluster-listen "127.0.0.1:${ports[$n]}" --node-name "n$n" "${seeds[@]}"; done
serve solo; serve many; serve one
groupcsv=$(IFS=,; echo "${group[*]}")
for i in $(seq 1 600); do
  (( $(adm "$work/n0/admin.sock" volumes 2>/dev/null | wc -l) == 31 )) && break
  (( i == 600 )) && { echo "the fleet did not form within 120 s"; tail -5 "$work"/n*/dmera.log; exit 1; }
  sleep 0.2
done
for d in solo many one; do for i in $(seq 1 300); do [[ -S $work/$d/admin.sock ]] && adm "$work/$d/admin.sock" volumes > /dev/null 2>&1 && break; sleep 0.2; done; done
for d in n0 solo; do timeout 300 fio --name=fill --ioengine=nbd --uri="$(uri $d io)" --rw=write --bs=1M --iodepth=8 --size=256M > /dev/null 2>&1; done
timeout 300 fio --name=fill --ioengine=nbd --uri="$(uri one one)" --rw=write --bs=1M --iodepth=8 --size=1G > /dev/null 2>&1
# fio expands ${RW} ${QD} ${BS} ${SECS} in job files from the environment.
jobs_global='[global]
ioengine=nbd
rw=${RW}
bs=${BS}
iodepth=${QD}
size=16M
time_based
runtime=${SECS}
thread
group_reporting'
{ echo "$jobs_global"; for v in $(seq 1 64); do echo "[m$v]"; echo "uri=$(uri many m$v)"; done; } > "$work/many.fio"
{ echo "$jobs_global"; for v in $(seq 1 64); do echo "[o$v]"; echo "uri=$(uri one one)"; echo "offset=$(( (v - 1) * 16 ))M"; done; } > "$work/one.fio"
{ echo "$jobs_global"; for n in 0 1 2; do echo "[w$n]"; echo "uri=$(uri n$n n${n}v1)"; done; } > "$work/stall.fio"
{ printf '[global]\nioengine=nbd\nrw=write\nbs=1M\niodepth=2\nsize=16M\nthread\n'; for v in $(seq 1 64); do echo "[m$v]"; echo "uri=$(uri many m$v)"; done; } > "$work/fill.fio"
timeout 300 fio "$work/fill.fio" > /dev/null 2>&1   # the 64 volumes hold data as the one does

echo "dmera $(git -C "$top" rev-parse --short HEAD); $(nproc) cores; $rounds group rounds; $io_rounds I/O rounds x ${seconds}s"
echo "load before: $(uptime)"
samples="$work/samples"

# 1. group checkpoint latency
adm "$work/n0/admin.sock" group-latency "$rounds" "$groupcsv" 0.1 | sed 's/^/latency fleet30 /' >> "$samples"
# Where the time goes: the same 10 volumes of node 0 as the daemon's own group (no fleet round trips), and one
# volume's checkpoint (one metadata commit), asked the same way.
local10=$(seq -f 'n0v%g' -s, 1 10 | sed 's/,$//')
adm "$work/n0/admin.sock" group-latency "$rounds" "$local10" 0.1 | sed 's/^/latency local10 /' >> "$samples"
adm "$work/n0/admin.sock" group-latency "$rounds" n0v1 0.1 | sed 's/^/latency one /' >> "$samples"

# 2. write stall: one QD1 writer per node on a group volume, with and without group checkpoints every 200 ms
stall_fio() {
  RW=randwrite BS=4k QD=1 SECS=$seconds timeout $((seconds + 60)) fio --percentile_list=50:99:99.9 --output-format=json "$work/stall.fio" 2>/dev/null | sed -n '/^{/,$p' |
    $py -c 'import json, sys; w = json.load(sys.stdin)["jobs"][0]["write"]; c = w["clat_ns"]; p = c["percentile"]
print(round(w["iops"]), round(c["max"] / 1e6, 2), round(p["99.900000"] / 1e6, 2), round(p["50.000000"] / 1e6, 3))'
}
for r in $(seq 1 "$io_rounds"); do
  order=(none groups); (( r % 2 == 0 )) && order=(groups none)
  for mode in "${order[@]}"; do
    if [[ $mode == none ]]; then echo "stall none $(stall_fio)" >> "$samples"
    else
      adm "$work/n0/admin.sock" group-loop "$seconds" "$groupcsv" 0.2 > "$work/loops" &
      loop=$!; pids+=($loop)
      echo "stall groups $(stall_fio)" >> "$samples"
      wait "$loop" || true
      echo "  round $r: $(cat "$work/loops") group checkpoints during the writes"
    fi
  done
done

iops() { sed -n '/^{/,$p' | $py -c 'import json, sys; j = json.load(sys.stdin)["jobs"]; print(round(sum(x["read"]["iops"] + x["write"]["iops"] for x in j)))'; }
fio_one() {   # URI RW QD: one job over a 256 MiB volume
  timeout $((seconds + 120)) fio --name=j --ioengine=nbd --uri="$1" --rw="$2" --bs=4k --iodepth="$3" --size=256M \
    --time_based --runtime="$seconds" --output-format=json 2>/dev/null | iops
}
fio_jobs() {   # JOBFILE RW QD
  RW=$2 BS=4k QD=$3 SECS=$seconds timeout $((seconds + 120)) fio --output-format=json "$1" 2>/dev/null | iops
}
refill() {   # DAEMON: a sequential pass over its volume(s), so every block is written in the current era
  case $1 in
    many) timeout 300 fio "$work/fill.fio" > /dev/null 2>&1 ;;
    one) timeout 300 fio --name=fill --ioengine=nbd --uri="$(uri one one)" --rw=write --bs=1M --iodepth=8 --size=1G > /dev/null 2>&1 ;;
    *) timeout 300 fio --name=fill --ioengine=nbd --uri="$(uri "$1" io)" --rw=write --bs=1M --iodepth=8 --size=256M > /dev/null 2>&1 ;;
  esac
}
# 3. cluster membership, 4. 64 volumes against 1
for r in $(seq 1 "$io_rounds"); do
  for job in randwrite steady randread; do
    rw=$job; [[ $job == steady ]] && rw=randwrite
    order=(solo n0); (( r % 2 == 0 )) && order=(n0 solo)
    for d in "${order[@]}"; do
      [[ $job == randwrite ]] && adm "$work/$d/admin.sock" message io checkpoint > /dev/null
      [[ $job == steady ]] && refill "$d"
      echo "member $job $d $(fio_one "$(uri $d io)" "$rw" 16)" >> "$samples"
    done
    order=(one many); (( r % 2 == 0 )) && order=(many one)
    for d in "${order[@]}"; do
      [[ $job == steady ]] && refill "$d"
      if [[ $job == randwrite ]]; then
        if [[ $d == one ]]; then adm "$work/one/admin.sock" message one checkpoint > /dev/null
        else adm "$work/many/admin.sock" group-checkpoint "$(seq -f 'm%g' -s, 1 64 | sed 's/,$//')" > /dev/null; fi
      fi
      echo "volumes $job $d $(fio_jobs "$work/$d.fio" "$rw" 2)" >> "$samples"
    done
  done
done
echo "load after: $(uptime)"

$py - "$samples" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
q = lambda xs, p: xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))]
print(f"\n### 1. group checkpoint latency, asked at node 0's admin socket\n")
print("| group | rounds | median ms | p90 ms | min ms | max ms |\n|---|---|---|---|---|---|")
for kind, what in (("fleet30", "30 volumes over 3 nodes (fleet)"), ("local10", "node 0's 10 volumes (the daemon's own group)"), ("one", "one volume")):
    lat = sorted(float(r[2]) for r in rows if r[0] == "latency" and r[1] == kind)
    print(f"| {what} | {len(lat)} | {statistics.median(lat):.1f} | {q(lat, .9):.1f} | {lat[0]:.1f} | {lat[-1]:.1f} |")
    if kind == "fleet30":
        target = f"target < 50 ms: {'met' if statistics.median(lat) < 50 else 'NOT met'} (median), {'met' if q(lat, .9) < 50 else 'NOT met'} (p90)"
print(f"\n{target}")
print("\n### 2. write stall: 3 QD1 4k randwrite writers (one group volume per node)\n")
print("| mode | round | IOPS | clat max ms | p99.9 ms | p50 ms |\n|---|---|---|---|---|---|")
for i, r in enumerate(x for x in rows if x[0] == "stall"):
    print(f"| {r[1]} | | {r[2]} | {r[3]} | {r[4]} | {r[5]} |")
for m in ("none", "groups"):
    mx = [float(r[3]) for r in rows if r[0] == "stall" and r[1] == m]
    print(f"| **{m}, worst** | | | **{max(mx)}** | | |")
def ratio(kind, rw, a, b):
    xa = [float(r[3]) for r in rows if r[0] == kind and r[1] == rw and r[2] == a]
    xb = [float(r[3]) for r in rows if r[0] == kind and r[1] == rw and r[2] == b]
    return xa, xb, statistics.median(xa) / statistics.median(xb)
print("\n### 3. a fleet member against a daemon without fleet flags, 4k QD16 (IOPS per round)\n")
print("| job | no fleet | member | member / no fleet (medians) | target |\n|---|---|---|---|---|")
for rw in ("randwrite", "steady", "randread"):
    m, s, x = ratio("member", rw, "n0", "solo")
    print(f"| {rw} | {' '.join(f'{v:.0f}' for v in s)} | {' '.join(f'{v:.0f}' for v in m)} | {x:.3f} | >= 0.98: {'met' if x >= .98 else 'NOT met'} |")
print("\n### 4. 64 volumes against one, 64 jobs x QD2 4k (total IOPS per round)\n")
print("| job | 1 volume | 64 volumes | 64 / 1 (medians) | target |\n|---|---|---|---|---|")
for rw in ("randwrite", "steady", "randread"):
    m, o, x = ratio("volumes", rw, "many", "one")
    print(f"| {rw} | {' '.join(f'{v:.0f}' for v in o)} | {' '.join(f'{v:.0f}' for v in m)} | {x:.3f} | >= 0.95: {'met' if x >= .95 else 'NOT met'} |")
PY
