#!/usr/bin/env bash
# Two builds of dmera side by side with a peer: one fio job, rounds alternating between the three servers so
# machine drift hits all alike. For "did this commit make it faster" questions.
# Usage: bench/ab/run.sh REV_A REV_B [ROUNDS=5] [SECONDS=5] -- FIO_JOB_OPTIONS...
#   e.g. bench/ab/run.sh 09295a7 HEAD 5 5 -- --rw=write --bs=1M --iodepth=4
#        TRANSPORT=unix bench/ab/run.sh 09295a7 HEAD -- --rw=randwrite --bs=4k --iodepth=1
#        FRESH=1 TRANSPORT=unix bench/ab/run.sh main HEAD -- --rw=randwrite --bs=4k --iodepth=16
# Every volume is filled once first (all blocks marked: the steady state). FRESH=1 checkpoints each dmera
# before each of its samples instead, so every write of the sample starts as a first write, and the peer is
# qemu-nbd on qcow2 with a persistent dirty bitmap (the fresh-era target's peer) instead of nbdkit's file
# plugin. Prints each round's IOPS, MiB/s and mean latency, then medians and ratios to the peer (and in
# fresh-era runs each build's commit times). Environment: TRANSPORT (tcp, default, or unix), FRESH, and
# META_DIR_B: where B keeps its metadata file, e.g. /dev/shm, whose fdatasync costs nothing (not durable: an
# experiment that shows what the metadata device's flush costs, with A = B). SIZE (origin and fio size,
# default 1G), BLOCK_SIZE (tracking block in sectors, default 8) and FILL=0 (skip the fill: writes then also
# allocate the origin's holes, for every server alike; for large origins) give the large-volume case, and
# BUILD_CACHE=DIR reuses builds across runs, e.g.
#   FRESH=1 FILL=0 SIZE=16G BLOCK_SIZE=128 bench/ab/run.sh main HEAD -- --rw=randwrite --bs=4k --iodepth=16
# ENV_A / ENV_B: environment settings for one build's daemon only (A = B with a runtime knob), e.g.
#   ENV_B="DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0" bench/ab/run.sh HEAD HEAD -- ...
# Each sample also reports the CPU time the server and fio spent per I/O (on a 2-core machine, what bounds IOPS).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
top="$(cd "$here/../.." && pwd)"
[[ $# -ge 3 ]] || { sed -n 4,6p "$0" >&2; exit 2; }
rev_a=$1 rev_b=$2; shift 2
rounds=5 seconds=5
[[ $1 != -- ]] && { rounds=$1; shift; }
[[ $1 != -- ]] && { seconds=$1; shift; }
[[ $1 == -- ]] && shift
transport="${TRANSPORT:-tcp}"
fresh="${FRESH:-}"
size="${SIZE:-1G}"
block_size="${BLOCK_SIZE:-8}"
fill="${FILL:-1}"
fill_note=$([[ $fill == 0 ]] && echo ", not filled" || true)
peer=$([[ -n $fresh ]] && echo qcow2+bitmap || echo nbdkit)
work="$(mktemp -d /tmp/dmera-bench-ab.XXXXXX)"
pids=()
meta_b=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 1; for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for t in a b; do git -C "$top" worktree remove --force "$work/tree-$t" 2>/dev/null || true; done
  [[ -z $meta_b ]] || rm -rf "$meta_b"
  rm -rf "$work"
}
trap cleanup EXIT
. "$top/bench/free-port.sh"

declare -A uri spid
for t in a b; do
  rev=$([[ $t == a ]] && echo "$rev_a" || echo "$rev_b")
  # BUILD_CACHE=DIR keeps each revision's build there, so several runs (transports, jobs) build it once.
  build="${BUILD_CACHE:-$work}/dmera-$(git -C "$top" rev-parse --short "$rev")"
  if [[ ! -f $build/dmera.dll ]]; then
    git -C "$top" worktree add -q --detach "$work/tree-$t" "$rev"
    dotnet build -c Release "$work/tree-$t/src/DmEra" -o "$build" > "$work/build-$t.log" ||
      { echo "build of $rev failed:" >&2; grep -E " error " "$work/build-$t.log" | sort -u >&2; exit 1; }
  fi
  ln -sfn "$build" "$work/dmera-$t"
  meta="$work/$t.meta"
  if [[ $t == b && -n ${META_DIR_B:-} ]]; then meta_b="$(mktemp -d "$META_DIR_B/dmera-bench-ab.XXXXXX")"; meta="$meta_b/b.meta"; fi
  truncate -s "$size" "$work/$t.img"; truncate -s 64M "$meta"
  port=$(free_port)
  envs=(); [[ $t == a && -n ${ENV_A:-} ]] && read -ra envs <<< "$ENV_A"; [[ $t == b && -n ${ENV_B:-} ]] && read -ra envs <<< "$ENV_B"
  env "${envs[@]}" dotnet "$work/dmera-$t/dmera.dll" serve --volume "name=bench,origin=$work/$t.img,metadata=$meta,block-size=$block_size" \
    --listen "127.0.0.1:$port" --socket "$work/$t.sock" --admin-socket "$work/$t.admin" > "$work/$t.log" 2>&1 &
  pids+=($!); spid[$t]=$!
  [[ $transport == unix ]] && uri[$t]="nbd+unix:///bench?socket=$work/$t.sock" || uri[$t]="nbd://127.0.0.1:$port/bench"
done
kport=$(free_port)
if [[ -n $fresh ]]; then
  qemu-img create -q -f qcow2 "$work/k.qcow2" "$size"
  qemu-img bitmap --add "$work/k.qcow2" backup0
  if [[ $transport == unix ]]; then qemu-nbd -f qcow2 -x bench -e 8 -t -k "$work/k.sock" -B backup0 "$work/k.qcow2" > "$work/k.log" 2>&1 &
  else qemu-nbd -f qcow2 -x bench -e 8 -t -b 127.0.0.1 -p "$kport" -B backup0 "$work/k.qcow2" > "$work/k.log" 2>&1 & fi
  pids+=($!); spid[peer]=$!
  [[ $transport == unix ]] && uri[peer]="nbd+unix:///bench?socket=$work/k.sock" || uri[peer]="nbd://127.0.0.1:$kport/bench"
else
  truncate -s "$size" "$work/k.img"
  if [[ $transport == unix ]]; then nbdkit -f -U "$work/k.sock" file "$work/k.img" & uri[peer]="nbd+unix:///?socket=$work/k.sock"
  else nbdkit -f -i 127.0.0.1 -p "$kport" file "$work/k.img" & uri[peer]="nbd://127.0.0.1:$kport/"; fi
  pids+=($!); spid[peer]=$!
fi
for s in a b peer; do
  for i in $(seq 1 200); do nbdinfo --size "${uri[$s]}" > /dev/null 2>&1 && break; sleep 0.1; done
  [[ $fill == 0 ]] || fio --name=fill --ioengine=nbd --uri="${uri[$s]}" --rw=write --bs=1M --iodepth=8 --size="$size" > /dev/null 2>&1
done

echo "A = $rev_a ($(git -C "$top" rev-parse --short "$rev_a"))${ENV_A:+ with $ENV_A}, B = $rev_b ($(git -C "$top" rev-parse --short "$rev_b"))${ENV_B:+ with $ENV_B}${META_DIR_B:+ with metadata in $META_DIR_B}, peer $peer, $transport, ${fresh:+fresh era, }origin $size, tracking blocks of $block_size sectors$fill_note, $rounds rounds x ${seconds}s: fio $*"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
samples="$work/samples"
# utime + stime of a process, all its threads, in clock ticks (fields 14 and 15 of /proc/PID/stat; the name may hold spaces)
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
for r in $(seq 1 "$rounds"); do
  order=(a b peer); order=("${order[@]:$(( (r - 1) % 3 ))}" "${order[@]:0:$(( (r - 1) % 3 ))}")
  for s in "${order[@]}"; do
    if [[ -n $fresh && $s != peer ]]; then
      dotnet "$work/dmera-$s/dmera.dll" message --admin-socket "$work/$s.admin" bench checkpoint > /dev/null
    fi
    sync
    cpu0=$(cpu_ticks "${spid[$s]}")
    fio --name=ab --ioengine=nbd --uri="${uri[$s]}" --size="$size" --time_based --runtime="$seconds" --output-format=json "$@" 2>/dev/null |
      sed -n '/^{/,$p' > "$work/fio.json"
    cpu1=$(cpu_ticks "${spid[$s]}")
    python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
d = j["write"] if j["write"]["io_bytes"] > j["read"]["io_bytes"] else j["read"]
p99 = d["clat_ns"].get("percentile", {}).get("99.000000", 0)
ios = max(1, d["total_ios"])
server_us = (int(sys.argv[4]) - int(sys.argv[3])) / int(sys.argv[5]) * 1e6 / ios
client_us = (j["usr_cpu"] + j["sys_cpu"]) / 100 * j["job_runtime"] * 1000 / ios
print(sys.argv[1], sys.argv[2], round(d["iops"]), round(d["bw"] / 1024), round(d["clat_ns"]["mean"] / 1000, 1), round(p99 / 1000),
      round(server_us, 1), round(client_us, 1))' "$r" "$s" "$cpu0" "$cpu1" "$(getconf CLK_TCK)" < "$work/fio.json" >> "$samples"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ -n $fresh ]]; then
  for s in a b; do   # over each build's last 4096 first-write commits
    echo "${s^^} commits: $(dotnet "$work/dmera-$s/dmera.dll" status --json --admin-socket "$work/$s.admin" bench |
      python3 -c 'import json, sys; j = json.load(sys.stdin); print("p50 %s µs, p99 %s µs, %.1f first-writes per commit" % (j["commit_us_p50"], j["commit_us_p99"], j["first_writes"] / max(1, j["commits"]))
          + ("; first-write wait p50 %s µs, p99 %s µs" % (j["first_write_wait_us_p50"], j["first_write_wait_us_p99"]) if "first_write_wait_us_p50" in j else ""))')"
  done
fi
python3 - "$samples" "$peer" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
names = {"a": "A", "b": "B", "peer": sys.argv[2]}
med = {}
print("| server | IOPS per round | MiB/s per round | median IOPS | median MiB/s | median mean-latency µs | median p99 latency µs | median server CPU µs/IO | median fio CPU µs/IO |")
print("|---|---|---|---|---|---|---|---|---|")
for s in ("a", "b", "peer"):
    mine = [r for r in rows if r[1] == s]
    iops, mibs, lat, p99, scpu, ccpu = ([float(r[i]) for r in mine] for i in (2, 3, 4, 5, 6, 7))
    med[s] = (statistics.median(iops), statistics.median(mibs), statistics.median(lat), statistics.median(p99), statistics.median(scpu), statistics.median(ccpu))
    print(f"| {names[s]} | {' '.join(str(int(x)) for x in iops)} | {' '.join(str(int(x)) for x in mibs)} | {med[s][0]:.0f} | {med[s][1]:.0f} | {med[s][2]} | {med[s][3]:.0f} | {med[s][4]:.1f} | {med[s][5]:.1f} |")
k = med["peer"]
for s in ("a", "b"):
    print(f"{names[s]} / {names['peer']}: IOPS {med[s][0] / k[0]:.2f}x, mean latency {med[s][2] / k[2]:.2f}x")
PY
