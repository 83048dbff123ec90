#!/usr/bin/env bash
# How much a backup view reader yields: nbdcopy of a held view (1 GiB, filled) alone, then beside two normal-class
# CPU hogs (one per core, in this session), then alone again. Usage: bench/view/yield.sh BUILD_DIR LABEL
# (BUILD_DIR holds dmera.dll). Everything it starts is stopped by pid on exit.
set -euo pipefail
b=$1; w=$(mktemp -d /tmp/dmera-bench-yield.XXXXXX); pids=()
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null || true; done; sleep 1; rm -rf $w' EXIT
truncate -s 1G $w/v.img; truncate -s 64M $w/v.meta
dotnet $b/dmera.dll serve --volume "name=v,origin=$w/v.img,metadata=$w/v.meta,block-size=128,backup-limit=1073741824" --listen 127.0.0.1:0 --socket $w/nbd.sock --admin-socket $w/admin.sock > $w/log 2>&1 & pids+=($!)
live="nbd+unix:///v?socket=$w/nbd.sock"; view="nbd+unix:///v@backup?socket=$w/nbd.sock"
for i in $(seq 1 300); do nbdinfo --size "$live" >/dev/null 2>&1 && break; sleep 0.1; done
timeout 300 fio --name=fill --ioengine=nbd --uri="$live" --rw=write --bs=1M --iodepth=8 --size=1G > /dev/null 2>&1
dotnet $b/dmera.dll message v take_backup_snap --admin-socket $w/admin.sock > /dev/null
rate() { local t0=$(date +%s.%N); timeout 120 nbdcopy "$view" null:; local t1=$(date +%s.%N); python3 -c "print(round(1024/($t1-$t0)))"; }
a1=$(rate); 
for k in 1 2; do ( while :; do :; done ) & pids+=($!); done
h1=$(rate); h2=$(rate)
for p in "${pids[@]:1}"; do kill $p; done
a2=$(rate)
echo "$2: view alone $a1 $a2 MiB/s; beside 2 normal-class CPU hogs $h1 $h2 MiB/s (load $(cut -d' ' -f1 /proc/loadavg))"
