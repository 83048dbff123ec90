#!/usr/bin/env bash
# The peer of bench/view/run.sh: qemu's fleecing (copy-before-write into a scratch qcow2, read through a
# snapshot-access node) in qemu-storage-daemon, measured with the same jobs, so its ratios stand beside
# DmEra's view. Each sample restarts the daemon: the fleecing instant is the moment the copy-before-write
# node is created, as a view's is the take.
#   1. 4k random writes at QD16 and QD1 to the live export while a reader copies the fleecing export in a
#      loop (nbdcopy to null:), against the same writes with no fleecing (the raw origin exported alone).
#   2. nbdcopy of the fleecing export against nbdcopy of the live export, nothing writing.
# Usage: bench/view/qemu-fleecing.sh [ROUNDS=3] [SECONDS=5]   (environment: READER=0 as in run.sh)
# The scratch qcow2 has 64 KiB clusters, the copy-before-write granularity; run.sh's default tracking block
# is the same 64 KiB. Unix socket only; the daemon is stopped by pid after every sample and on exit.
set -euo pipefail
command -v qemu-storage-daemon > /dev/null || { echo "qemu-storage-daemon not installed (Debian: qemu-system-common)"; exit 1; }
rounds=${1:-3} seconds=${2:-5}
work="$(mktemp -d /tmp/dmera-bench-fleece.XXXXXX)"
qsd=""
stop_qsd() {
  [[ -n $qsd ]] || return 0
  kill "$qsd" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$qsd" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$qsd" 2>/dev/null || true; wait "$qsd" 2>/dev/null || true; qsd=""
}
reader=""
stop_reader() { [[ -z $reader ]] || { kill "$reader" 2>/dev/null || true; wait "$reader" 2>/dev/null || true; reader=""; }; }
cleanup() { stop_reader; stop_qsd; rm -rf "$work"; }
trap cleanup EXIT
sock="$work/nbd.sock"
live="nbd+unix:///live?socket=$sock" snap="nbd+unix:///snap?socket=$sock"
start_qsd() {   # none | fleece
  rm -f "$sock" "$work/scratch.qcow2"
  local nodes=(--blockdev "driver=file,filename=$work/o.raw,node-name=ofile" --blockdev driver=raw,file=ofile,node-name=origin)
  local exports=(--export type=nbd,id=live,node-name=origin,name=live,writable=on)
  if [[ $1 == fleece ]]; then
    qemu-img create -q -f qcow2 -o cluster_size=65536 "$work/scratch.qcow2" 1G
    nodes+=(--blockdev "driver=file,filename=$work/scratch.qcow2,node-name=sfile" --blockdev driver=qcow2,file=sfile,node-name=fleece
            --blockdev driver=copy-before-write,node-name=cbw,file=origin,target=fleece
            --blockdev driver=snapshot-access,file=cbw,node-name=snap)
    exports=(--export type=nbd,id=live,node-name=cbw,name=live,writable=on --export type=nbd,id=snap,node-name=snap,name=snap)
  fi
  qemu-storage-daemon "${nodes[@]}" --nbd-server "addr.type=unix,addr.path=$sock" "${exports[@]}" >> "$work/qsd.log" 2>&1 &
  qsd=$!
  for _ in $(seq 1 100); do nbdinfo --size "$live" > /dev/null 2>&1 && return 0; sleep 0.1; done
  echo "qemu-storage-daemon did not start:"; cat "$work/qsd.log"; exit 1
}
truncate -s 1G "$work/o.raw"
start_qsd none
timeout 300 fio --name=fill --ioengine=nbd --uri="$live" --rw=write --bs=1M --iodepth=8 --size=1G > /dev/null 2>&1
stop_qsd

echo "qemu-storage-daemon $(qemu-storage-daemon --version | head -1 | awk '{print $3}'), fleecing into a 64 KiB-cluster qcow2, 1 GiB raw origin, $rounds rounds x ${seconds}s, Unix socket"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
samples="$work/samples"
fio_iops() {
  timeout $((seconds + 60)) fio --name=w --ioengine=nbd --uri="$live" --rw=randwrite --bs=4k --iodepth="$1" --size=1G \
    --time_based --runtime="$seconds" --output-format=json 2>/dev/null | sed -n '/^{/,$p' |
    python3 -c 'import json, sys; print(round(json.load(sys.stdin)["jobs"][0]["write"]["iops"]))'
}
for r in $(seq 1 "$rounds"); do
  for qd in 16 1; do
    order=(none fleece); (( r % 2 == 0 )) && order=(fleece none)
    for mode in "${order[@]}"; do
      sync
      start_qsd "$mode"
      if [[ $mode == fleece && ${READER:-1} != 0 ]]; then
        ( while true; do nbdcopy "$snap" null: 2>/dev/null || true; done ) &
        reader=$!
      fi
      echo "$r $qd $mode $(fio_iops "$qd")" >> "$samples"
      stop_reader
      [[ $mode == none ]] || echo "  round $r QD$qd: scratch $(qemu-img info -U --output=json "$work/scratch.qcow2" 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin)["actual-size"])' || echo '?') bytes"
      stop_qsd
    done
  done
  start_qsd fleece
  order=(live snap); (( r % 2 == 0 )) && order=(snap live)
  for what in "${order[@]}"; do
    uri=$([[ $what == live ]] && echo "$live" || echo "$snap")
    t0=$(date +%s.%N); timeout 300 nbdcopy "$uri" null:; t1=$(date +%s.%N)
    echo "$r copy $what $(python3 -c "print(round(1024 / ($t1 - $t0)))")" >> "$samples"
  done
  stop_qsd
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$samples" "${READER:-1}" <<'PY'
import statistics, sys
held = "fleecing + reader" if sys.argv[2] != "0" else "fleecing, no reader"
rows = [l.split() for l in open(sys.argv[1])]
def med(kind, mode):
    xs = [float(r[3]) for r in rows if r[1] == kind and r[2] == mode]
    return statistics.median(xs), " ".join(str(int(x)) for x in xs)
print(f"| qemu job | no fleecing (per round) | {held} (per round) | median ratio |")
print("|---|---|---|---|")
for qd in ("16", "1"):
    (a, ar), (b, br) = med(qd, "none"), med(qd, "fleece")
    print(f"| 4k randwrite QD{qd}, IOPS | {ar} | {br} | {b / a:.2f}x |")
(a, ar), (b, br) = med("copy", "live"), med("copy", "snap")
print(f"| nbdcopy out, MiB/s (live / fleecing) | {ar} | {br} | {b / a:.2f}x |")
PY
