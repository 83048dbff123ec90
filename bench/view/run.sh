#!/usr/bin/env bash
# The cost of a held backup view, side by side in one run (issue 14's targets as ratios, not tests):
#   1. 4k random writes at QD16 and QD1 with a view held and a reader copying it (nbdcopy of VOL@backup in a
#      loop), against the same writes with no view. Both start in a fresh era (a checkpoint, or the take's
#      own), so every first write to a block waits for its commit in both; the difference is the
#      copy-before-write and the reader. Target: >= 0.7x at QD16.
#   2. nbdcopy of the view against nbdcopy of the live volume, nothing writing. Target: >= 0.9x.
# Usage: bench/view/run.sh [ROUNDS=3] [SECONDS=5]   (environment: BLOCK_SECTORS, default 128 = 64 KiB; COPIES, default 3;
#        READER=0 holds the view with nobody reading it, to separate the copy-before-write from the reader)
# The saved copy may grow to the whole volume here (backup-limit = origin size), so a view never breaks
# mid-sample. The server listens on a Unix socket only; everything it started is stopped by pid on exit.
# DMERA_BUILD=<dir> serves an existing build (dmera.dll in <dir>) instead of building this tree: to compare
# builds back to back without a build between them.
# BASE=<git rev> also serves the daemon built from that revision, as "base", in the same rounds (each round runs
# both builds, alternating which goes first): a before/after comparison within one run, one table per build.
# BASE_BUILD=<dir> does the same with an existing build as "base" (e.g. one with other akka.hocon settings).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
top="$(cd "$here/../.." && pwd)"
rounds=${1:-3} seconds=${2:-5}
copies=${COPIES:-3}   # nbdcopy runs per copy sample: one copy of 1 GiB takes a third of a second
bs=${BLOCK_SECTORS:-128}
work="$(mktemp -d /tmp/dmera-bench-view.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 1; for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
build="${DMERA_BUILD:-$work/dmera}"
[[ -n ${DMERA_BUILD:-} ]] || dotnet build -c Release "$top/src/DmEra" -o "$build" > /dev/null
builds=(dmera)
if [[ -n ${BASE_BUILD:-} ]]; then
  ln -s "$BASE_BUILD" "$work/base"; builds+=(base)
elif [[ -n ${BASE:-} ]]; then
  mkdir "$work/base-src"; git -C "$top" archive "$BASE" | tar -x -C "$work/base-src"
  dotnet build -c Release "$work/base-src/src/DmEra" -o "$work/base" > /dev/null
  builds+=(base)
fi
serve() { # name build-dir
  truncate -s 1G "$work/$1.img"; truncate -s 64M "$work/$1.meta"
  dotnet "$2/dmera.dll" serve --volume "name=v,origin=$work/$1.img,metadata=$work/$1.meta,block-size=$bs,backup-limit=1073741824" \
    --listen 127.0.0.1:0 --socket "$work/$1.sock" --admin-socket "$work/$1-admin.sock" > "$work/$1.log" 2>&1 &
  pids+=($!)
}
serve dmera "$build"
[[ ${#builds[@]} == 1 ]] || serve base "$work/base"
use() { # name: the daemon the next commands talk to
  admin="$work/$1-admin.sock" bin="$([[ $1 == base ]] && echo "$work/base" || echo "$build")"
  live="nbd+unix:///v?socket=$work/$1.sock" view="nbd+unix:///v@backup?socket=$work/$1.sock"
}
dmera() { timeout 120 dotnet "$bin/dmera.dll" "$@" --admin-socket "$admin"; }
for b in "${builds[@]}"; do
  use "$b"
  for i in $(seq 1 300); do nbdinfo --size "$live" > /dev/null 2>&1 && break; sleep 0.1; done
  timeout 300 fio --name=fill --ioengine=nbd --uri="$live" --rw=write --bs=1M --iodepth=8 --size=1G > /dev/null 2>&1
done

echo "dmera ${DMERA_BUILD:-$(git -C "$top" rev-parse --short HEAD)}${BASE:+, base $(git -C "$top" rev-parse --short "$BASE")}${BASE_BUILD:+, base $BASE_BUILD}, ${bs}-sector tracking blocks, 1 GiB volume, $rounds rounds x ${seconds}s, Unix socket"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
samples="$work/samples"
fio_iops() {   # QD: IOPS of 4k random writes for $seconds
  timeout $((seconds + 60)) fio --name=w --ioengine=nbd --uri="$live" --rw=randwrite --bs=4k --iodepth="$1" --size=1G \
    --time_based --runtime="$seconds" --output-format=json 2>/dev/null | sed -n '/^{/,$p' |
    python3 -c 'import json, sys; print(round(json.load(sys.stdin)["jobs"][0]["write"]["iops"]))'
}
for r in $(seq 1 "$rounds"); do
 border=("${builds[@]}"); (( r % 2 == 0 && ${#builds[@]} > 1 )) && border=(base dmera)
 for b in "${border[@]}"; do
  use "$b"
  for qd in 16 1; do
    order=(none view); (( r % 2 == 0 )) && order=(view none)
    for mode in "${order[@]}"; do
      sync
      if [[ $mode == none ]]; then
        dmera message v checkpoint > /dev/null
        echo "$r $qd none $(fio_iops "$qd") $b" >> "$samples"
      else
        dmera message v take_backup_snap > /dev/null
        reader=""
        if [[ ${READER:-1} != 0 ]]; then
          rm -f "$work"/progress.*
          # Each copy reports its progress (N/100 lines) to its own file: the reader's throughput under the writes.
          ( n=0; while true; do n=$((n + 1)); nbdcopy --progress=3 "$view" null: 3> "$work/progress.$n" 2>/dev/null || true; done ) &
          reader=$!; pids+=($reader)
        fi
        echo "$r $qd view $(fio_iops "$qd") $b" >> "$samples"
        [[ -z $reader ]] || { kill "$reader" 2>/dev/null || true; wait "$reader" 2>/dev/null || true; }
        if [[ -n $reader ]]; then   # copies done while fio ran (the last one ends at the drop below, its progress is read now)
          pct=$(for f in "$work"/progress.*; do tail -n 1 "$f" 2>/dev/null | cut -d/ -f1; done | awk '{ s += $1 } END { print s + 0 }')
          echo "$r reader$qd view $(( pct * 1024 / 100 / seconds )) $b" >> "$samples"
        fi
        saved=$(dmera status v --json | python3 -c 'import json, sys; v = json.load(sys.stdin)["view"]; print(v["saved_bytes"], v["broken"])')
        echo "  round $r $b QD$qd: view saved ${saved% *} bytes, broken: ${saved#* }"
        dmera message v drop_backup_snap > /dev/null
      fi
    done
  done
  # nbdcopy out: the view (held, nothing writing) and the live volume, alternating which goes first.
  dmera message v take_backup_snap > /dev/null
  order=(live view); (( r % 2 == 0 )) && order=(view live)
  for what in "${order[@]}"; do
    uri=$([[ $what == live ]] && echo "$live" || echo "$view")
    t0=$(date +%s.%N); for ((c = 0; c < copies; c++)); do timeout 300 nbdcopy "$uri" null:; done; t1=$(date +%s.%N)
    echo "$r copy $what $(python3 -c "print(round(1024 * $copies / ($t1 - $t0)))") $b" >> "$samples"
  done
  dmera message v drop_backup_snap > /dev/null
 done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$samples" "${READER:-1}" "${builds[@]}" <<'PY'
import statistics, sys
held = "view held + reader" if sys.argv[2] != "0" else "view held, no reader"
rows = [l.split() for l in open(sys.argv[1])]
for build in sys.argv[3:]:
    def med(kind, mode):
        xs = [float(r[3]) for r in rows if r[1] == kind and r[2] == mode and r[4] == build]
        return statistics.median(xs), " ".join(str(int(x)) for x in xs)
    if len(sys.argv) > 4: print(f"\n{build}:")
    print(f"| job | no view (per round) | {held} (per round) | median ratio | target |")
    print("|---|---|---|---|---|")
    for qd, target in (("16", 0.7), ("1", None)):
        (a, ar), (b, br) = med(qd, "none"), med(qd, "view")
        print(f"| 4k randwrite QD{qd}, IOPS | {ar} | {br} | {b / a:.2f}x | {f'>= {target}x' if target else '-'} |")
    (a, ar), (b, br) = med("copy", "live"), med("copy", "view")
    print(f"| nbdcopy out, MiB/s (live / view) | {ar} | {br} | {b / a:.2f}x | >= 0.9x |")
    for qd in ("16", "1"):
        if any(r[1] == "reader" + qd and r[4] == build for r in rows):
            c, cr = med("reader" + qd, "view")
            print(f"| reader of the view during QD{qd} writes, MiB/s (approx.) | - | {cr} | {c / b:.2f}x of the view alone | - |")
PY
