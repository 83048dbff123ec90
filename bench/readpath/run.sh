#!/usr/bin/env bash
# The read side of a backup (issue 18), side by side in one run: dmera (the daemon, an era volume with every
# block marked) against nbdkit's file plugin, over a Unix socket and over TCP loopback:
#   - fio (nbd engine) 1 MiB sequential reads at QD4, one connection, MiB/s;
#   - nbdcopy of the whole export to null: (nbdcopy's defaults: 4 connections where multi-conn is offered), MiB/s;
#     each sample times COPIES (default 3) copies back to back, since one copy of 1 GiB takes about half a second.
# Each round runs every job against both servers, the order alternating from round to round; the table gives
# the per-round figures and the median ratio dmera/nbdkit. Target: >= 1.0x on both jobs and both transports.
# Usage: bench/readpath/run.sh [ROUNDS=5] [SECONDS=5]   (environment: BLOCK_SECTORS, default 128 = 64 KiB;
#        BASE=<git rev> also serves the daemon built from that revision, as "base", in the same rounds: a
#        before/after comparison within one run, each build's ratio to nbdkit taken in the same round)
# The images live in /tmp (page-cached: the servers are measured, not the disk). Everything started here is
# stopped by pid on exit; TCP ports are free ports on 127.0.0.1, never 10809.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
top="$(cd "$here/../.." && pwd)"
rounds=${1:-5} seconds=${2:-5}
copies=${COPIES:-3}
bs=${BLOCK_SECTORS:-128}
size=$((1 << 30))
work="$(mktemp -d /tmp/dmera-bench-readpath.XXXXXX)"
pids=()
cleanup() {   # dmera commits its metadata on SIGTERM: give every server 10 s, then SIGKILL
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
. "$top/bench/free-port.sh"
dotnet build -c Release -v q -nologo "$top/src/DmEra" -o "$work/dmera" > "$work/build.txt" 2>&1 || { cat "$work/build.txt" >&2; exit 1; }
servers=(dmera nbdkit)
if [[ -n ${BASE:-} ]]; then
  mkdir "$work/base-src"; git -C "$top" archive "$BASE" | tar -x -C "$work/base-src"
  dotnet build -c Release -v q -nologo "$work/base-src/src/DmEra" -o "$work/base" > "$work/build-base.txt" 2>&1 || { cat "$work/build-base.txt" >&2; exit 1; }
  servers+=(base)
fi
truncate -s $size "$work/nbdkit.img"
port_nbdkit=$(free_port)
serve_dmera() { # name build-dir
  truncate -s $size "$work/$1.img"; truncate -s 64M "$work/$1.meta"
  eval "port_$1=$(free_port)"; local port; eval "port=\$port_$1"
  dotnet "$2/dmera.dll" serve --volume "name=v,origin=$work/$1.img,metadata=$work/$1.meta,block-size=$bs" \
    --listen "127.0.0.1:$port" --socket "$work/$1.sock" --admin-socket "$work/$1-admin.sock" > "$work/$1.log" 2>&1 &
  pids+=($!)
}
serve_dmera dmera "$work/dmera"
[[ -z ${BASE:-} ]] || serve_dmera base "$work/base"
nbdkit -f --exit-with-parent -U "$work/nbdkit.sock" file "$work/nbdkit.img" > "$work/nbdkit-unix.log" 2>&1 & pids+=($!)
nbdkit -f --exit-with-parent -i 127.0.0.1 -p "$port_nbdkit" file "$work/nbdkit.img" > "$work/nbdkit-tcp.log" 2>&1 & pids+=($!)
uri() { # server transport
  case "$1/$2" in
    dmera/unix) echo "nbd+unix:///v?socket=$work/dmera.sock" ;;
    dmera/tcp) echo "nbd://127.0.0.1:$port_dmera/v" ;;
    base/unix) echo "nbd+unix:///v?socket=$work/base.sock" ;;
    base/tcp) echo "nbd://127.0.0.1:$port_base/v" ;;
    nbdkit/unix) echo "nbd+unix:///?socket=$work/nbdkit.sock" ;;
    nbdkit/tcp) echo "nbd://127.0.0.1:$port_nbdkit/" ;;
  esac
}
for s in "${servers[@]}"; do for t in unix tcp; do
  for i in $(seq 1 300); do nbdinfo --size "$(uri $s $t)" > /dev/null 2>&1 && break; sleep 0.1; done
done; done
# Random data everywhere, written through each server: no server can skip a hole or a zero run.
for s in "${servers[@]}"; do
  timeout 300 fio --name=fill --ioengine=nbd --uri="$(uri $s unix)" --rw=write --bs=1M --iodepth=8 --size=$size \
    --refill_buffers=1 > /dev/null 2>&1
done
sync -f "$work"

echo "dmera $(git -C "$top" describe --always --dirty)${BASE:+, base $(git -C "$top" rev-parse --short "$BASE")}, ${bs}-sector tracking blocks, 1 GiB, $rounds rounds x ${seconds}s, $copies nbdcopy copies per sample"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
samples="$work/samples"
seqread() { # server transport -> MiB/s
  timeout $((seconds + 60)) fio --name=r --ioengine=nbd --uri="$(uri "$1" "$2")" --rw=read --bs=1M --iodepth=4 --size=$size \
    --time_based --runtime="$seconds" --output-format=json 2>/dev/null | sed -n '/^{/,$p' |
    $py -c 'import json, sys; print(round(json.load(sys.stdin)["jobs"][0]["read"]["bw"] / 1024))'
}
copy() { # server transport -> MiB/s over $copies back-to-back copies (one copy of 1 GiB is ~0.5 s: too noisy alone)
  local t0 t1
  t0=$(date +%s.%N)
  for _ in $(seq 1 "$copies"); do timeout 300 nbdcopy "$(uri "$1" "$2")" null:; done
  t1=$(date +%s.%N)
  $py -c "print(round($copies * 1024 / ($t1 - $t0)))"
}
for r in $(seq 1 "$rounds"); do
  order=("${servers[@]}"); (( r % 2 == 0 )) && order=($(printf '%s\n' "${servers[@]}" | tac))
  for t in unix tcp; do
    for s in "${order[@]}"; do echo "$r seqread $t $s $(seqread "$s" "$t")" >> "$samples"; done
    for s in "${order[@]}"; do echo "$r nbdcopy $t $s $(copy "$s" "$t")" >> "$samples"; done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
$py - "$samples" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
base = any(r[3] == "base" for r in rows)
print("| job | transport | dmera MiB/s (per round) | nbdkit MiB/s (per round) | median ratio of rounds |"
      + (" base MiB/s (per round) | base median ratio |" if base else "") + " target |")
print("|---|---|---|---|---|" + ("---|---|" if base else "") + "---|")
for job, label in (("seqread", "1M seq read QD4 (fio)"), ("nbdcopy", "nbdcopy to null:")):
    for t in ("unix", "tcp"):
        per = {s: {int(r[0]): float(r[4]) for r in rows if r[1] == job and r[2] == t and r[3] == s} for s in ("dmera", "nbdkit", "base")}
        k = per["nbdkit"]
        def cols(s):
            d = per[s]
            ratio = statistics.median(d[i] / k[i] for i in d if i in k)
            return f"{' '.join(str(int(d[i])) for i in sorted(d))} | ", f"{ratio:.2f}x | "
        d, dr = cols("dmera")
        line = f"| {label} | {t} | {d}{' '.join(str(int(k[i])) for i in sorted(k))} | {dr}"
        if base: line += "".join(cols("base"))
        print(line + ">= 1.0x |")
PY
