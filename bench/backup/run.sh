#!/usr/bin/env bash
# dmera backup side by side (issue 17): a full backup of a volume against nbdcopy of the same view to a
# file (with and without --flush: create syncs its point), and an incremental with 1% of the blocks
# changed against the full. Medians over rounds, ratios, the client's peak RSS. Not a test.
#   bench/backup/run.sh [ROUNDS=3] [SIZE_GIB=4]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
SIZE_GIB=${2:-4}
root=$(pwd)
work=$(mktemp -d /tmp/dmera-bench-backup-XXXXXX)
daemon_pid=""
cleanup() {
  if [ -n "$daemon_pid" ]; then kill -TERM "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
dotnet build src/DmEra -c Release -v q -nologo 2>&1 | grep -E " error |rror\(s\)" || true
dmera=(dotnet "$root/src/DmEra/bin/Release/net10.0/dmera.dll")

# Random data everywhere (written to the origin before the daemon starts: a full backup copies data, not eras).
head -c $((SIZE_GIB << 30)) /dev/urandom > "$work/v.origin"
truncate -s 64M "$work/v.meta"
: > "$work/daemon.log"
"${dmera[@]}" serve --listen 127.0.0.1:0 --socket "$work/nbd.sock" --admin-socket "$work/admin.sock" \
  --volume "name=v,origin=$work/v.origin,metadata=$work/v.meta,block-size=128" > "$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 120); do grep -q "dmera serving" "$work/daemon.log" && break; sleep 0.5; done
grep -q "dmera serving" "$work/daemon.log" || { echo "daemon did not start"; cat "$work/daemon.log"; exit 1; }
uri="nbd+unix:///v?socket=$work/nbd.sock"
view="nbd+unix:///v@backup?socket=$work/nbd.sock"
admin=(--admin-socket "$work/admin.sock")

# Seconds and peak RSS (KiB) of one command, appended to a file as "seconds kib".
measure() {
  local out=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/t" timeout 600 "$@" > /dev/null
  cat "$work/t" >> "$out"
}

change_one_percent() {
  /usr/bin/python3 - "$uri" "$1" <<'PY'
import nbd, os, random, sys
h = nbd.NBD(); h.connect_uri(sys.argv[1])
blocks = h.get_size() // 65536
r = random.Random(int(sys.argv[2]))
for b in r.sample(range(blocks), blocks // 100):
    h.pwrite(os.urandom(65536), b * 65536)
h.flush()
PY
}

for round in $(seq "$ROUNDS"); do
  echo "round $round: load $(cut -d' ' -f1-3 /proc/loadavg)"
  rm -rf "$work/chain"
  measure "$work/full" "${dmera[@]}" backup create v "$work/chain" "${admin[@]}" --uri "$uri" --full
  "${dmera[@]}" message v take_backup_snap "${admin[@]}" > /dev/null
  rm -f "$work/copy.raw"; measure "$work/nbdcopy" nbdcopy "$view" "$work/copy.raw"
  rm -f "$work/copy.raw"; measure "$work/nbdcopy-flush" nbdcopy --flush "$view" "$work/copy.raw"
  rm -f "$work/copy.raw"
  "${dmera[@]}" message v drop_backup_snap "${admin[@]}" > /dev/null
  change_one_percent "$round"
  measure "$work/incremental" "${dmera[@]}" backup create v "$work/chain" "${admin[@]}" --uri "$uri"
done

median() { awk '{print $1}' "$1" | sort -n | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2)}'; }
peak() { awk '{print $2}' "$1" | sort -n | tail -1; }
full=$(median "$work/full"); copy=$(median "$work/nbdcopy"); flush=$(median "$work/nbdcopy-flush"); inc=$(median "$work/incremental")
echo
echo "dmera backup vs nbdcopy, ${SIZE_GIB} GiB volume of random data, 64 KiB blocks, ${ROUNDS} rounds (medians, wall seconds incl. process start)"
printf "%-34s %8s\n" "full backup (create --full)" "$full"
printf "%-34s %8s\n" "nbdcopy view -> file" "$copy"
printf "%-34s %8s\n" "nbdcopy --flush view -> file" "$flush"
printf "%-34s %8s\n" "incremental, 1 percent changed" "$inc"
awk -v f="$full" -v c="$copy" -v fl="$flush" -v i="$inc" 'BEGIN {
  printf "speed of full vs nbdcopy:          %.2fx (target >= 0.9)\n", c / f
  printf "speed of full vs nbdcopy --flush:  %.2fx\n", fl / f
  printf "incremental / full time:           %.3f\n", i / f }'
echo "per round (s): full $(awk '{printf "%s ", $1}' "$work/full")| nbdcopy $(awk '{printf "%s ", $1}' "$work/nbdcopy")| incremental $(awk '{printf "%s ", $1}' "$work/incremental")"
echo "client peak RSS: full $(peak "$work/full") KiB, incremental $(peak "$work/incremental") KiB; nbdcopy $(peak "$work/nbdcopy") KiB"
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
