#!/usr/bin/env bash
# DmEra side by side with the servers a user would pick instead: nbdkit's file plugin (no tracking),
# qemu-nbd on a raw file (no tracking) and qemu-nbd on qcow2 with a persistent dirty bitmap (tracking that
# a crash loses). The same fio jobs (nbd engine, Unix sockets and TCP loopback) run against each server
# in turn, round after round, so machine drift hits all of them alike. Prints a markdown table of medians
# and ratios to nbdkit. Usage: bench/peers/run.sh [ROUNDS] [SECONDS_PER_JOB]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
top="$(cd "$here/../.." && pwd)"
rounds="${1:-3}"
seconds="${2:-8}"
size=$((1 << 30))
work="$(mktemp -d /tmp/dmera-bench-peers.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 1 200); do [ -S "$1" ] && return 0; sleep 0.1; done; echo "no socket $1" >&2; exit 1; }

dotnet build -c Release "$top/src/DmEra" -o "$work/dmera" >/dev/null
for f in dmera nbdkit qemu; do truncate -s $size "$work/$f.img"; done
truncate -s 64M "$work/dmera.meta"
qemu-img create -q -f qcow2 "$work/qcow.qcow2" $size
qemu-img bitmap --add "$work/qcow.qcow2" backup0

declare -A tcp
tcp[dmera]=$(free_port); tcp[nbdkit]=$(free_port); tcp[qemu]=$(free_port); tcp[qcow]=$(free_port)
dotnet "$work/dmera/dmera.dll" serve --volume "name=bench,origin=$work/dmera.img,metadata=$work/dmera.meta,block-size=${BLOCK_SECTORS:-128}" \
  --listen "127.0.0.1:${tcp[dmera]}" --socket "$work/dmera.sock" --admin-socket "$work/admin.sock" > "$work/dmera.log" 2>&1 &
pids+=($!)
nbdkit -f -U "$work/nbdkit.sock" file "$work/nbdkit.img" >/dev/null 2>&1 & pids+=($!)
nbdkit -f -i 127.0.0.1 -p "${tcp[nbdkit]}" file "$work/nbdkit.img" >/dev/null 2>&1 & pids+=($!)
qemu-nbd -f raw -x bench -e 8 -t -k "$work/qemu.sock" "$work/qemu.img" & pids+=($!)
qemu-nbd -f qcow2 -x bench -e 8 -t -k "$work/qcow.sock" -B backup0 "$work/qcow.qcow2" & pids+=($!)
wait_for "$work/dmera.sock"; wait_for "$work/nbdkit.sock"; wait_for "$work/qemu.sock"; wait_for "$work/qcow.sock"

uri() { # server transport
  case "$1/$2" in
    dmera/unix) echo "nbd+unix:///bench?socket=$work/dmera.sock" ;;
    nbdkit/unix) echo "nbd+unix:///?socket=$work/nbdkit.sock" ;;
    qemu/unix) echo "nbd+unix:///bench?socket=$work/qemu.sock" ;;
    qcow/unix) echo "nbd+unix:///bench?socket=$work/qcow.sock" ;;
    dmera/tcp) echo "nbd://127.0.0.1:${tcp[dmera]}/bench" ;;
    nbdkit/tcp) echo "nbd://127.0.0.1:${tcp[nbdkit]}/" ;;
  esac
}

# Fill every server's disk once, so reads read data and (for dmera) every block is marked in the era.
for s in dmera nbdkit qemu qcow; do
  fio --name=fill --ioengine=nbd --uri="$(uri $s unix)" --rw=write --bs=1M --iodepth=8 --size=$size >/dev/null
done

# name | fio arguments
jobs=(
  "4k-randread-qd16|--rw=randread --bs=4k --iodepth=16"
  "4k-randwrite-qd16|--rw=randwrite --bs=4k --iodepth=16"
  "4k-randwrite-qd1|--rw=randwrite --bs=4k --iodepth=1"
  "1m-seqread-qd4|--rw=read --bs=1M --iodepth=4"
  "1m-seqwrite-qd4|--rw=write --bs=1M --iodepth=4"
)
servers=(dmera nbdkit qemu qcow)
declare -A results
run_fio() { # uri args → "iops bw_MiBs lat_p99_us"
  fio --name=j --ioengine=nbd --uri="$1" $2 --size=$size --time_based --runtime="$seconds" --output-format=json 2>/dev/null |
    python3 "$here/fio_summary.py"
}
for r in $(seq 1 "$rounds"); do
  for job in "${jobs[@]}"; do
    name="${job%%|*}"; args="${job#*|}"
    for s in "${servers[@]}"; do results["$name/$s/unix"]+="$(run_fio "$(uri $s unix)" "$args");"; done
    for s in dmera nbdkit; do results["$name/$s/tcp"]+="$(run_fio "$(uri $s tcp)" "$args");"; done
  done
  # Fresh era: every 4k write a first write, each durable before it is released.
  dotnet "$work/dmera/dmera.dll" message --admin-socket "$work/admin.sock" bench checkpoint >/dev/null
  results["fresh-era-4k-randwrite-qd16/dmera/unix"]+="$(run_fio "$(uri dmera unix)" "--rw=randwrite --bs=4k --iodepth=16");"
  results["fresh-era-4k-randwrite-qd16/qcow/unix"]+="$(run_fio "$(uri qcow unix)" "--rw=randwrite --bs=4k --iodepth=16");"
done

median_field() { tr ';' '\n' | grep -v '^$' | awk -v f="$1" '{print $f}' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "| job | transport | server | IOPS | MiB/s | p99 µs | IOPS ratio to nbdkit |"
echo "|---|---|---|---|---|---|---|"
for job in "${jobs[@]}" "fresh-era-4k-randwrite-qd16|"; do
  name="${job%%|*}"
  for t in unix tcp; do
    base="${results[$name/nbdkit/$t]:-}"
    b=$([ -n "$base" ] && echo "$base" | median_field 1 || echo "")
    for s in "${servers[@]}"; do
      v="${results[$name/$s/$t]:-}"; [ -z "$v" ] && continue
      i=$(echo "$v" | median_field 1); m=$(echo "$v" | median_field 2); p=$(echo "$v" | median_field 3)
      ratio=$([ -n "$b" ] && [ "$b" != 0 ] && echo "scale=2; $i / $b" | bc || echo "-")
      echo "| $name | $t | $s | $i | $m | $p | $ratio |"
    done
  done
done
echo
echo "dmera status after the run: $(dotnet "$work/dmera/dmera.dll" status --admin-socket "$work/admin.sock")"
