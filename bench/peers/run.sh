#!/usr/bin/env bash
# DmEra side by side with the servers a user would pick instead: nbdkit's file plugin (no tracking),
# qemu-nbd on a raw file (no tracking) and qemu-nbd on qcow2 with a persistent dirty bitmap (tracking that
# a crash loses). Every server is measured over a Unix socket and over TCP loopback:
#   - fio (nbd engine) 4k random and 1M sequential jobs, one connection;
#   - 4k randread / randwrite at QD16 per connection over 1, 2 and 4 connections (fio numjobs, group_reporting);
#   - nbdcopy of a 1 GiB file into each export, and out of it to null: and to a file;
#   - the fresh era (right after a checkpoint, every write a first write) at QD16 and QD1, dmera against
#     qcow2+bitmap, with the metadata commit time dmera's status reports.
# Rounds repeat everything with the servers' order rotated, so machine drift hits all of them alike; the
# report gives medians. Writes bench/results/peers-DATE.md (machine, command, tables, ratios), the medians
# as peers-DATE.csv and ScottPlot charts peers-DATE-*.png (bench/charts) beside it.
#
# Usage: bench/peers/run.sh [ROUNDS=3] [SECONDS_PER_JOB=8]      quick check: bench/peers/run.sh 1 2 (a few minutes)
# Environment: BLOCK_SECTORS (dmera's tracking block, default 8 = 4 KiB), CONNS (default "1 2 4"),
#              OUT (output path without extension, default bench/results/peers-DATE, never overwriting a result).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
top="$(cd "$here/../.." && pwd)"
rounds="${1:-3}"
seconds="${2:-8}"
block_sectors="${BLOCK_SECTORS:-8}"
conns_list="${CONNS:-1 2 4}"
[[ "$rounds" =~ ^[1-9][0-9]*$ && "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [ROUNDS] [SECONDS_PER_JOB]" >&2; exit 2; }
size=$((1 << 30))
size_mib=$((size >> 20))
started=$(date +%s)
command="$(for v in BLOCK_SECTORS CONNS OUT; do if [ -n "${!v:-}" ]; then printf '%s=%q ' "$v" "${!v}"; fi; done)bench/peers/run.sh $*"

if [ -n "${OUT:-}" ]; then out="$OUT"; else
  out="$top/bench/results/peers-$(date -u +%F)"
  [ -e "$out.md" ] && out="$out-$(date -u +%H%M)"
fi
mkdir -p "$(dirname "$out")"

work="$(mktemp -d /tmp/dmera-bench-peers.XXXXXX)"
# nbdcopy's output file goes to memory: the copy measures the server, not this machine's disk writeback.
shm="$(mktemp -d /dev/shm/dmera-bench-peers.XXXXXX)"
pids=()   # servers
current=  # the measured command running now (under timeout), if any
alive() { [[ "$(ps -o stat= -p "$1" 2>/dev/null)" =~ ^[^Z] ]]; }
cleanup() {
  local rc=$?
  [ -n "$current" ] && kill -TERM "$current" 2>/dev/null
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do   # dmera commits its metadata on SIGTERM; give every server 10 s, then SIGKILL
    for _ in $(seq 1 100); do alive "$p" || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$work" "$shm"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs a command bounded in time, in the background so that cleanup can stop it: bounded LIMIT OUTFILE CMD...
bounded() {
  local limit="$1" outfile="$2" rc=0; shift 2
  timeout -k 5 "$limit" "$@" > "$outfile" 2> "$outfile.err" < /dev/null &
  current=$!
  wait "$current" || rc=$?
  current=
  return "$rc"
}
. "$top/bench/free-port.sh"
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
say() { echo "[$(( $(date +%s) - started )) s] $*" >&2; }
load_start=$(loadavg)

say "building dmera and the chart tool"
dotnet build -c Release -v q -nologo "$top/src/DmEra" -o "$work/dmera" > "$work/build.txt" 2>&1 || { cat "$work/build.txt" >&2; exit 1; }
charts_ok=1
dotnet build -c Release -v q -nologo "$top/bench/charts" -o "$work/charts" > "$work/charts-build.txt" 2>&1 \
  || { cat "$work/charts-build.txt" >&2; echo "chart tool did not build: no charts" >&2; charts_ok=0; }
dmera() { dotnet "$work/dmera/dmera.dll" "$@"; }

# One image per server instance: a qemu-nbd listens on a Unix socket or on TCP, not both (with -k it
# ignores -b/-p), and two qemu-nbds must not share a qcow2. nbdkit's two instances share one raw file.
say "making images"
for f in dmera nbdkit qemu-unix qemu-tcp; do truncate -s $size "$work/$f.img"; done
truncate -s 64M "$work/dmera.meta"
for t in unix tcp; do
  qemu-img create -q -f qcow2 "$work/qcow-$t.qcow2" $size
  qemu-img bitmap --add "$work/qcow-$t.qcow2" backup0
done
head -c $size /dev/urandom > "$work/source.img"   # nbdcopy's input: random, so no server can skip zeroes

declare -A tcp
for s in dmera nbdkit qemu qcow; do tcp[$s]=$(free_port); done
# Not through the dmera function: $! must be the daemon's own pid (a backgrounded function is a subshell,
# and stopping that would leave the daemon running).
dotnet "$work/dmera/dmera.dll" serve --volume "name=bench,origin=$work/dmera.img,metadata=$work/dmera.meta,block-size=$block_sectors" \
  --listen "127.0.0.1:${tcp[dmera]}" --socket "$work/dmera.sock" --admin-socket "$work/admin.sock" > "$work/dmera.log" 2>&1 &
pids+=($!)
nbdkit -f --exit-with-parent -U "$work/nbdkit.sock" file "$work/nbdkit.img" > "$work/nbdkit-unix.log" 2>&1 & pids+=($!)
nbdkit -f --exit-with-parent -i 127.0.0.1 -p "${tcp[nbdkit]}" file "$work/nbdkit.img" > "$work/nbdkit-tcp.log" 2>&1 & pids+=($!)
qemu-nbd -f raw -x bench -e 8 -t -k "$work/qemu.sock" "$work/qemu-unix.img" > "$work/qemu-unix.log" 2>&1 & pids+=($!)
qemu-nbd -f raw -x bench -e 8 -t -b 127.0.0.1 -p "${tcp[qemu]}" "$work/qemu-tcp.img" > "$work/qemu-tcp.log" 2>&1 & pids+=($!)
qemu-nbd -f qcow2 -x bench -e 8 -t -k "$work/qcow.sock" -B backup0 "$work/qcow-unix.qcow2" > "$work/qcow-unix.log" 2>&1 & pids+=($!)
qemu-nbd -f qcow2 -x bench -e 8 -t -b 127.0.0.1 -p "${tcp[qcow]}" -B backup0 "$work/qcow-tcp.qcow2" > "$work/qcow-tcp.log" 2>&1 & pids+=($!)

uri() { # server transport
  case "$1/$2" in
    nbdkit/unix) echo "nbd+unix:///?socket=$work/nbdkit.sock" ;;
    nbdkit/tcp) echo "nbd://127.0.0.1:${tcp[nbdkit]}/" ;;
    */unix) echo "nbd+unix:///bench?socket=$work/$1.sock" ;;
    */tcp) echo "nbd://127.0.0.1:${tcp[$1]}/bench" ;;
  esac
}
servers=(dmera nbdkit qemu qcow)
transports=(unix tcp)
declare -A multi
for s in "${servers[@]}"; do
  for t in "${transports[@]}"; do
    for i in $(seq 1 200); do nbdinfo --size "$(uri "$s" "$t")" > /dev/null 2>&1 && break; sleep 0.1; done
    [ "$i" -lt 200 ] || { echo "$s did not start on $t; its log:" >&2; cat "$work/$s"*.log >&2; exit 1; }
  done
  # nbdcopy opens 4 connections to a server that advertises multi-conn, else 1: say which.
  multi[$s]=$(nbdinfo --json "$(uri "$s" unix)" 2>/dev/null |
    $py -c 'import json,sys; print(str(json.load(sys.stdin)["exports"][0].get("can_multi_conn")).lower())' 2>/dev/null) || multi[$s]=unknown
done

# Fill every image once through its server, so reads read data, qcow2 clusters are allocated and every
# dmera block is marked in the current era (steady state: tracking on, no commit needed).
fill() { bounded 600 "$work/fill.out" fio --name=fill --ioengine=nbd --uri="$1" --rw=write --bs=1M --iodepth=8 --size=$size; }
say "filling images"
for s in "${servers[@]}"; do
  fill "$(uri "$s" unix)"
  case $s in qemu|qcow) fill "$(uri "$s" tcp)" ;; esac
done

samples="$work/samples.csv"; commits="$work/commits.csv"; failures="$work/failures.txt"
echo "round,section,job,transport,server,conns,iops,mibs,p50_us,p99_us" > "$samples"
echo "round,job,commits,first_writes,commit_us_p50,commit_us_p99" > "$commits"
: > "$failures"
limit=$((seconds + 120))

# Every sample starts with no dirty pages left by the one before (filled images, copies, random writes):
# otherwise whichever server runs next pays for the previous one's writeback. Untimed.
settle() { sync -f "$work"; }

# fio_sample round section job server transport conns fio-args...
fio_sample() {
  local round="$1" section="$2" job="$3" s="$4" t="$5" n="$6" res; shift 6
  local extra=()
  [ "$n" -gt 1 ] && extra=(--numjobs="$n" --group_reporting)
  settle
  if bounded "$limit" "$work/fio.json" fio --name=j --ioengine=nbd --uri="$(uri "$s" "$t")" "$@" "${extra[@]}" \
       --size=$size --time_based --runtime="$seconds" --output-format=json \
     && res=$($py "$here/fio_summary.py" < "$work/fio.json"); then
    set -- $res
    echo "$round,$section,$job,$t,$s,$n,$1,$2,$3,$4" >> "$samples"
  else
    echo "round $round: fio $job on $s over $t ($n connections) failed: $(tail -n 3 "$work/fio.json.err" | tr '\n' ' ')" | tee -a "$failures" >&2
  fi
}
# copy_sample round job server transport: times one nbdcopy of the whole export.
copy_sample() {
  local round="$1" job="$2" s="$3" t="$4" src dst t0 t1
  case $job in
    nbdcopy-in) src="$work/source.img"; dst="$(uri "$s" "$t")" ;;
    nbdcopy-out-null) src="$(uri "$s" "$t")"; dst="null:" ;;
    nbdcopy-out-file) src="$(uri "$s" "$t")"; dst="$shm/copy-out.img" ;;
  esac
  settle
  t0=$(date +%s.%N)
  if bounded 600 "$work/copy.out" nbdcopy "$src" "$dst"; then
    t1=$(date +%s.%N)
    echo "$round,copy,$job,$t,$s,1,,$(awk -v a="$t0" -v b="$t1" -v m="$size_mib" 'BEGIN {printf "%.0f", m / (b - a)}'),," >> "$samples"
  else
    echo "round $round: $job on $s over $t failed: $(tail -n 3 "$work/copy.out.err" | tr '\n' ' ')" | tee -a "$failures" >&2
  fi
  [ "$job" = nbdcopy-out-file ] && rm -f "$dst"
  return 0
}
# dmera's commit figures (fields the daemon may not report yet: "n/a"): commits first_writes p50 p99
commit_stats() {
  local json
  json=$(dmera status --json --admin-socket "$work/admin.sock" bench 2>/dev/null) || json='{}'
  $py -c '
import json, sys
try: j = json.loads(sys.argv[1])
except ValueError: j = {}
print(" ".join("n/a" if j.get(k) is None else str(j[k]) for k in ("commits", "first_writes", "commit_us_p50", "commit_us_p99")))' "$json"
}
delta() { [[ "$1" =~ ^[0-9]+$ && "$2" =~ ^[0-9]+$ ]] && echo $(($2 - $1)) || echo n/a; }

# name | fio arguments
jobs=(
  "4k-randread-qd16|--rw=randread --bs=4k --iodepth=16"
  "4k-randwrite-qd16|--rw=randwrite --bs=4k --iodepth=16"
  "4k-randwrite-qd1|--rw=randwrite --bs=4k --iodepth=1"
  "1m-seqread-qd4|--rw=read --bs=1M --iodepth=4"
  "1m-seqwrite-qd4|--rw=write --bs=1M --iodepth=4"
)
conn_jobs=("4k-randread-qd16|--rw=randread --bs=4k --iodepth=16" "4k-randwrite-qd16|--rw=randwrite --bs=4k --iodepth=16")
for r in $(seq 1 "$rounds"); do
  k=$(( (r - 1) % ${#servers[@]} ))
  order=("${servers[@]:k}" "${servers[@]:0:k}")   # round r starts with another server
  say "round $r of $rounds: one connection (servers in the order ${order[*]}; load $(loadavg))"
  for job in "${jobs[@]}"; do
    for t in "${transports[@]}"; do
      for s in "${order[@]}"; do fio_sample "$r" steady "${job%%|*}" "$s" "$t" 1 ${job#*|}; done
    done
  done
  # More connections (one connection per fio job); one connection is the steady-state job above.
  say "round $r: connections ($conns_list)"
  for n in $conns_list; do
    [ "$n" -gt 1 ] || continue
    for job in "${conn_jobs[@]}"; do
      for t in "${transports[@]}"; do
        for s in "${order[@]}"; do fio_sample "$r" conns "${job%%|*}" "$s" "$t" "$n" ${job#*|}; done
      done
    done
  done
  say "round $r: nbdcopy"
  for job in nbdcopy-in nbdcopy-out-null nbdcopy-out-file; do
    for t in "${transports[@]}"; do
      for s in "${order[@]}"; do copy_sample "$r" "$job" "$s" "$t"; done
    done
  done
  # Fresh era: every 4k write a first write, each released only once its metadata commit is durable.
  # qcow2+bitmap runs the same job for comparison (its bitmap lives in memory until qemu-nbd exits).
  say "round $r: fresh era"
  for qd in 16 1; do
    name="fresh-era-4k-randwrite-qd$qd"
    for s in "${order[@]}"; do
      case $s in
        dmera)
          if ! dmera message --admin-socket "$work/admin.sock" bench checkpoint > "$work/checkpoint.out" 2>&1; then
            echo "round $r: dmera checkpoint failed: $(tr '\n' ' ' < "$work/checkpoint.out")" | tee -a "$failures" >&2
            continue
          fi
          read -r c0 f0 _ _ <<< "$(commit_stats)"
          fio_sample "$r" fresh "$name" dmera unix 1 --rw=randwrite --bs=4k --iodepth="$qd"
          read -r c1 f1 p50 p99 <<< "$(commit_stats)"
          echo "$r,$name,$(delta "$c0" "$c1"),$(delta "$f0" "$f1"),$p50,$p99" >> "$commits" ;;
        qcow) fio_sample "$r" fresh "$name" qcow unix 1 --rw=randwrite --bs=4k --iodepth="$qd" ;;
      esac
    done
  done
  # Mark every dmera block again, untimed, so the next round's steady-state jobs see no first writes.
  [ "$r" -lt "$rounds" ] && fill "$(uri dmera unix)"
done
status_after="$(dmera status --admin-socket "$work/admin.sock" bench 2>&1 || true)"
load_end=$(loadavg)

meta="$work/meta.tsv"
{
  printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
  printf 'command\t%s\n' "$command"
  printf 'rounds\t%s\nseconds\t%s\nblock_sectors\t%s\nconns\t%s\n' "$rounds" "$seconds" "$block_sectors" "$conns_list"
  printf 'commit\t%s\n' "$(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown)"
  printf 'nproc\t%s\n' "$(nproc)"
  printf 'memory\t%s\n' "$(free -h | awk '/^Mem:/ {print $2}')"
  printf 'kernel\t%s\n' "$(uname -r)"
  printf 'os\t%s\n' "$(. /etc/os-release && echo "$PRETTY_NAME")"
  printf 'cpu\t%s\n' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  printf 'fs\t%s\n' "$(df -T "$work" | awk 'NR==2 {print $2}')"
  printf 'fio\t%s\n' "$(fio --version)"
  printf 'nbdkit\t%s\n' "$(nbdkit --version | head -1)"
  printf 'qemu-nbd\t%s\n' "$(qemu-nbd --version | head -1)"
  printf 'nbdcopy\t%s\n' "$(nbdcopy --version | tr '\n' ' ')"
  printf 'dotnet\t%s\n' "$(dotnet --version)"
  printf 'load_start\t%s\nload_end\t%s\n' "$load_start" "$load_end"
  printf 'duration_s\t%s\n' "$(( $(date +%s) - started ))"
  for s in "${servers[@]}"; do printf 'multi_conn_%s\t%s\n' "$s" "${multi[$s]:-unknown}"; done
  printf 'dmera_status\t%s\n' "$status_after"
  # What the servers said about trouble (up to 5 lines each), for the report.
  for log in "$work"/*.log; do
    { grep -iE 'error|warn|fail|exception' "$log" || true; } | head -n 5 | while IFS= read -r line; do
      printf 'log\t%s: %s\n' "$(basename "$log" .log)" "$line"
    done
  done
} > "$meta"

say "report and charts"
$py "$here/report.py" "$samples" "$commits" "$meta" "$failures" "$out"
if [ "$charts_ok" = 1 ]; then
  note=; [ "$rounds" -lt 3 ] || [ "$seconds" -lt 5 ] && note="quick run: an example, not a measurement"
  dotnet "$work/charts/dmera-bench-charts.dll" "$out.csv" "$out" "$note" >&2 || echo "charts failed" >&2
fi
say "wrote $out.md"
