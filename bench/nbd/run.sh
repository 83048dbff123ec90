#!/usr/bin/env bash
# NBD server benchmark: the same fio (nbd engine, TCP loopback) jobs and nbdcopy run side by side against
# DmEra.Nbd (bench/nbd/NbdServe, FileExport), nbdkit's file plugin and qemu-nbd, all serving the same
# fully-allocated image in /dev/shm. Prints a table with ratios to nbdkit.
# Usage: bench/nbd/run.sh [RUNTIME_SECONDS=10] [IMAGE_GIB=2]
set -euo pipefail
cd "$(dirname "$0")/../.."
runtime=${1:-10}
gib=${2:-2}
work=$(mktemp -d /dev/shm/dmera-nbd-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

dotnet build bench/nbd/NbdServe -c Release -o "$work/serve" -v q -nologo >/dev/null
img="$work/disk.img"
# Every block written ("all blocks marked"): no holes for any server to shortcut.
dd if=/dev/urandom of="$img" bs=1M count=$((gib * 1024)) status=none

port_dmera=$((20000 + RANDOM % 10000)); port_nbdkit=$((port_dmera + 1)); port_qemu=$((port_dmera + 2))
"$work/serve/NbdServe" --file "$img" --port "$port_dmera" --unix "$work/dmera.sock" > "$work/dmera.log" 2>&1 & pids+=($!)
# nbdkit, like qemu-nbd, serves one transport per instance: TCP for fio, a Unix socket for nbdcopy.
nbdkit -f -i 127.0.0.1 -p "$port_nbdkit" file "$img" 2>"$work/nbdkit.log" & pids+=($!)
nbdkit -f -U "$work/nbdkit.sock" file "$img" 2>>"$work/nbdkit.log" & pids+=($!)
qemu-nbd -f raw -t -e 0 -b 127.0.0.1 -p "$port_qemu" --cache=none --aio=threads "$img" 2>"$work/qemu.log" & pids+=($!)
qemu-nbd -f raw -t -e 0 -k "$work/qemu.sock" --cache=none --aio=threads "$img" 2>>"$work/qemu.log" & pids+=($!)
for i in $(seq 1 100); do
  nbdinfo --size "nbd://127.0.0.1:$port_dmera" >/dev/null 2>&1 && nbdinfo --size "nbd://127.0.0.1:$port_nbdkit" >/dev/null 2>&1 \
    && nbdinfo --size "nbd://127.0.0.1:$port_qemu" >/dev/null 2>&1 && break
  sleep 0.2
done

declare -A uri=( [dmera]="nbd://127.0.0.1:$port_dmera" [nbdkit]="nbd://127.0.0.1:$port_nbdkit" [qemu]="nbd://127.0.0.1:$port_qemu" )
declare -A unix=( [dmera]="nbd+unix:///?socket=$work/dmera.sock" [nbdkit]="nbd+unix:///?socket=$work/nbdkit.sock" [qemu]="nbd+unix:///?socket=$work/qemu.sock" )
servers=(dmera nbdkit qemu)
declare -A result

fio_job() { # name server rw bs depth -> prints IOPS (4k) or MiB/s (1M)
  local out
  out=$(fio --name="$1" --ioengine=nbd --uri="${uri[$2]}" --rw="$3" --bs="$4" --iodepth="$5" --size=1g \
        --time_based --runtime="$runtime" --ramp_time=2 --output-format=json 2>/dev/null | sed -n "/^{/,\$p")
  /usr/bin/python3 -c '
import json,sys
j=json.loads(sys.stdin.read())["jobs"][0]
d=j["read"] if j["read"]["io_bytes"]>0 else j["write"]
print("%.0f" % (d["iops"] if sys.argv[1]=="iops" else d["bw"]/1024))' "$6" <<<"$out"
}

for s in "${servers[@]}"; do
  result[$s,randread]=$(fio_job rr "$s" randread 4k 16 iops)
  result[$s,randwrite]=$(fio_job rw "$s" randwrite 4k 16 iops)
  result[$s,seqwrite]=$(fio_job sw "$s" write 1m 4 mibs)
  start=$(date +%s.%N)
  nbdcopy "${unix[$s]}" null:
  end=$(date +%s.%N)
  result[$s,nbdcopy]=$(/usr/bin/python3 -c "print('%.2f' % ($gib / ($end - $start)))")
done

printf '%-26s %12s %12s %12s %10s %10s\n' test dmera nbdkit qemu-nbd dmera/kit dmera/qemu
for t in randread randwrite seqwrite nbdcopy; do
  case $t in randread) label="4k randread QD16 (IOPS)";; randwrite) label="4k randwrite QD16 (IOPS)";;
    seqwrite) label="1M seq write QD4 (MiB/s)";; nbdcopy) label="nbdcopy out (GiB/s)";; esac
  d=${result[dmera,$t]}; k=${result[nbdkit,$t]}; q=${result[qemu,$t]}
  printf '%-26s %12s %12s %12s %10s %10s\n' "$label" "$d" "$k" "$q" \
    "$(/usr/bin/python3 -c "print('%.2f' % ($d/$k))")" "$(/usr/bin/python3 -c "print('%.2f' % ($d/$q))")"
done
