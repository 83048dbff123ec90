#!/usr/bin/env bash
# What one request costs the daemon: for each given build directory (a `dotnet build src/DmEra -o DIR`), one daemon
# at a time, fresh era, fio 4k random writes at QD$QD (default 16) for $SECS s (default 5) over each of $TRANSPORTS
# (default "tcp unix"), and `perf stat` on the daemon: context switches, CPU and system calls per request, with the
# first-write waits from `status --json`. The counts hold up on a loaded machine better than IOPS do.
# DENV="NAME=VALUE ..." sets environment for the daemons (e.g. DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=70).
# Usage: bench/ab/syscalls.sh BUILD_DIR... (results: bench/results/firstwrite-2026-12-03c.md)
set -uo pipefail
trap '[[ -n ${pid:-} ]] && kill "$pid" 2>/dev/null; [[ -n ${w:-} ]] && rm -rf "$w"' EXIT
QD=${QD:-16}; SECS=${SECS:-5}
ev=context-switches,task-clock
for s in sendmsg sendto write writev futex sched_yield recvmsg recvfrom read readv epoll_wait epoll_pwait fdatasync pwritev2 pwrite64 pwritev; do ev+=",syscalls:sys_enter_$s"; done
for build in "$@"; do
 for t in ${TRANSPORTS:-tcp unix}; do
  w=$(mktemp -d /tmp/dmera-syscalls.XXXXXX)
  truncate -s 1G $w/o.img; truncate -s 64M $w/m.meta
  port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  env ${DENV:-} dotnet $build/dmera.dll serve --volume "name=bench,origin=$w/o.img,metadata=$w/m.meta,block-size=8" --listen 127.0.0.1:$port --socket $w/s.sock --admin-socket $w/a.admin > $w/log 2>&1 &
  pid=$!
  [[ $t == unix ]] && uri="nbd+unix:///bench?socket=$w/s.sock" || uri="nbd://127.0.0.1:$port/bench"
  for i in $(seq 200); do nbdinfo --size "$uri" >/dev/null 2>&1 && break; sleep 0.1; done
  fio --name=fill --ioengine=nbd --uri="$uri" --rw=write --bs=1M --iodepth=8 --size=1G >/dev/null 2>&1
  dotnet $build/dmera.dll message --admin-socket $w/a.admin bench checkpoint >/dev/null
  perf stat -x, -e "$ev" -p $pid -o $w/perf.csv -- sleep $SECS &
  ppid=$!
  fio --name=ab --ioengine=nbd --uri="$uri" --size=1G --time_based --runtime=$SECS --output-format=json --rw=randwrite --bs=4k --iodepth=$QD 2>/dev/null | sed -n '/^{/,$p' > $w/fio.json
  wait $ppid
  st=$(dotnet $build/dmera.dll status --json --admin-socket $w/a.admin bench)
  python3 - $w/fio.json $w/perf.csv "$(basename $build) $t load $(cut -d' ' -f1 /proc/loadavg)" "$st" <<'PY'
import json,sys
j=json.load(open(sys.argv[1]))["jobs"][0]; d=j["write"]; ios=d["total_ios"]
st=json.loads(sys.argv[4])
out=[]
for line in open(sys.argv[2]):
    f=line.strip().split(",")
    if len(f)<3 or not f[0] or f[0].startswith("<"): continue
    name=f[2].replace("syscalls:sys_enter_","")
    v=float(f[0])
    if name=="task-clock": out.append("cpu %.1fus" % (v*1e3/ios))
    elif v>0: out.append("%s %.2f" % (name, v/ios))
print("%s: iops %d p99 %dus wait p50/p99 %s/%s commit p50 %s fw/commit %.1f | per IO: %s" % (sys.argv[3], d["iops"], d["clat_ns"]["percentile"]["99.000000"]/1e3,
  st.get("first_write_wait_us_p50"), st.get("first_write_wait_us_p99"), st["commit_us_p50"], st["first_writes"]/max(1,st["commits"]), ", ".join(out)))
PY
  kill $pid; sleep 1; kill -9 $pid 2>/dev/null; rm -rf $w
 done
done
