#!/usr/bin/env bash
# Daemon memory (issue 7): RSS of `dmera serve` on a 1 TiB sparse origin at 64 KiB blocks (16,777,216
# tracking blocks), idle and under load, against the target
#   RSS above the runtime's idle baseline <= 4 x nr_blocks bytes + 64 MiB  (= 128 MiB here).
# The baseline is the same daemon serving a 64 MiB volume, idle after start-up; a bare .NET console
# process is measured too, for reference. VmRSS and VmHWM are sampled from /proc/PID/status every 0.2 s and
# the peak of each phase is reported. Load is fio's nbd engine over a Unix socket, spread over the whole
# 1 TiB (first writes to distinct tracking blocks, so metadata commits), checkpoints whose background digest
# folds a populated writeset into the era array, and block-status maps over the whole device.
# Prints a markdown table. Usage: bench/memory/run.sh
# Environment: WRITE_SECONDS (20), READ_SECONDS (10), ROUND_SECONDS (10), ROUNDS (3), IDLE_SECONDS (8);
# DMERA_PROJECT (src/DmEra) to measure another build; DOTNET_* variables reach the daemons (GC settings).
# DIAGNOSE=1 attaches dotnet-counters and dotnet-gcdump (if installed) at the end: GC heap vs RSS, and
# the types that hold the heap. Takes about 4 minutes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
top="$(cd "$here/../.." && pwd)"
project="${DMERA_PROJECT:-$top/src/DmEra}"
write_s="${WRITE_SECONDS:-20}"
read_s="${READ_SECONDS:-10}"
round_s="${ROUND_SECONDS:-10}"
rounds="${ROUNDS:-3}"
idle_s="${IDLE_SECONDS:-8}"
block_sectors=128                       # 64 KiB tracking blocks
nr_blocks=16777216                      # 1 TiB / 64 KiB
target_kib=$(( (4 * nr_blocks + 64 * 1024 * 1024) / 1024 ))
work="$(mktemp -d /tmp/dmera-bench-memory.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export PATH="$PATH:$HOME/.dotnet/tools"

machine() { echo "$(nproc) cores, $(free -m | awk '/^Mem:/ { print $7 }') MiB available, load average $(uptime | sed 's/.*average: //')"; }
machine_before="$(machine)"
echo "building $project ..." >&2
dotnet build -c Release "$project" -o "$work/dmera" >/dev/null
dotnet build -c Release "$here/IdleConsole" -o "$work/idle" >/dev/null
dmera=(dotnet "$work/dmera/dmera.dll")

# --- sampling -------------------------------------------------------------------------------------------
# One sampler per measured process appends "phase pid rss_kib hwm_kib" lines; the phase is whatever the
# script last wrote to $work/phase. A spike shorter than the sampling interval still shows in VmHWM: a
# phase during which the process's VmHWM rose peaked at least at that VmHWM.
echo none > "$work/phase"
phase() { echo "$1" > "$work/phase.new"; mv "$work/phase.new" "$work/phase"; echo "  phase $1" >&2; }
sampler() { # pid
  local pid="$1" k v _ rss hwm ph
  while :; do
    rss=""; hwm=""
    { while read -r k v _; do case "$k" in VmRSS:) rss="$v" ;; VmHWM:) hwm="$v" ;; esac; done < "/proc/$pid/status"; } 2>/dev/null || break
    [ -n "$rss" ] || break                    # exited (a zombie has no VmRSS)
    read -r ph < "$work/phase" || ph=none
    echo "$ph $pid $rss $hwm"
    sleep 0.2
  done >> "$work/samples"
}
start_sampler() { sampler "$1" & pids+=($!); }

# --- daemons ------------------------------------------------------------------------------------------
start_daemon() { # name origin metadata → $dpid
  "${dmera[@]}" serve --volume "name=$1,origin=$2,metadata=$3,block-size=$block_sectors" \
    --listen 127.0.0.1:0 --socket "$work/$1.sock" --admin-socket "$work/$1.admin" > "$work/$1.log" 2>&1 &
  dpid=$!
  pids+=($dpid)
  start_sampler "$dpid"
  for _ in $(seq 1 1200); do
    [ -S "$work/$1.sock" ] && [ -S "$work/$1.admin" ] && return 0
    kill -0 "$dpid" 2>/dev/null || { echo "daemon $1 died:" >&2; cat "$work/$1.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "daemon $1: no socket after 120 s" >&2; cat "$work/$1.log" >&2; exit 1
}
stop_daemon() { # pid: SIGTERM is the clean stop (archive, drain the digest, commit)
  kill -TERM "$1"
  wait "$1" || { echo "daemon exited with $?" >&2; exit 1; }
}
uri() { echo "nbd+unix:///$1?socket=$work/$1.sock"; }
run_fio() { # volume seconds fio-args (later ones override) → IOPS on stderr; fio prints a banner before its JSON
  local vol="$1" secs="$2"; shift 2
  fio --name=mem --ioengine=nbd --uri="$(uri "$vol")" --size="$(cat "$work/$vol.size")" --bs=4k --iodepth=16 \
      --time_based --runtime="$secs" --randrepeat=0 --output-format=json "$@" 2>/dev/null \
    | sed -n '/^{/,$p' > "$work/fio.json" || true
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1]))["jobs"][0]
print("    fio: %.0f read IOPS, %.0f write IOPS, %d errors" % (j["read"]["iops"], j["write"]["iops"], j["error"]))' "$work/fio.json" >&2 \
    2>/dev/null || echo "    fio: no result" >&2
}
checkpoint() { "${dmera[@]}" message --admin-socket "$work/$1.admin" "$1" checkpoint; }
used_blocks() { "${dmera[@]}" status --admin-socket "$work/$1.admin" "$1" | awk '{split($2,a,"/"); print a[1]}'; }
wait_digest() { # volume: the digest commits as it finishes; done when used metadata stays put 1.5 s
  local last="" same=0 now
  for _ in $(seq 1 120); do
    now="$(used_blocks "$1" 2>/dev/null)"
    [ -n "$now" ] || { echo "    no status from the daemon" >&2; return 1; }
    if [ "$now" = "$last" ]; then same=$((same + 1)); [ "$same" -ge 3 ] && { echo "    metadata used: $now blocks" >&2; return 0; }
    else same=0; last="$now"; fi
    sleep 0.5
  done
  echo "    digest still running after 60 s (used $last)" >&2
}

# --- 1. a bare .NET console process ----------------------------------------------------------------------
phase console-idle
dotnet "$work/idle/IdleConsole.dll" > "$work/idle.out" &
cpid=$!; pids+=($cpid)
for _ in $(seq 1 100); do grep -q ready "$work/idle.out" 2>/dev/null && break; sleep 0.1; done
sleep 2
start_sampler "$cpid"
sleep "$idle_s"
kill "$cpid"; wait "$cpid" 2>/dev/null || true

# --- 2. baseline: the daemon on a 64 MiB volume --------------------------------------------------------
truncate -s 64M "$work/small.img"; echo 64M > "$work/small.size"
truncate -s 16M "$work/small.meta"
phase small-start
start_daemon small "$work/small.img" "$work/small.meta"
spid=$dpid
sleep 3
phase small-idle
sleep "$idle_s"
# For reference: the same small daemon after the load the big one gets (JIT, buffers, thread pool, GC
# budgets), which is memory that does not grow with nr_blocks.
phase small-load
run_fio small "$round_s" --rw=randwrite
checkpoint small > /dev/null; wait_digest small
run_fio small "$read_s" --rw=randread
phase small-idle-after
sleep "$idle_s"
phase none
stop_daemon "$spid"

# --- 3. the 1 TiB volume ---------------------------------------------------------------------------------
df_before=$(df -k --output=avail "$work" | tail -1)
truncate -s 1T "$work/big.img"; echo 1T > "$work/big.size"
truncate -s 256M "$work/big.meta"      # era array alone: 4 B x 16 Mi = 64 MiB of array blocks
phase big-start
start_daemon big "$work/big.img" "$work/big.meta"
bpid=$dpid
echo "    $(grep -o 'volume big: .*' "$work/big.log" | head -1)" >&2
sleep 3
phase big-idle
sleep "$idle_s"
failure=""
big_ok() { # the daemon is alive and the volume not failed; else records why in $failure
  local st
  if kill -0 "$bpid" 2>/dev/null; then
    st=$("${dmera[@]}" status --admin-socket "$work/big.admin" big 2>&1 | head -1)
    case "$st" in Fail*) failure="volume failed (status Fail)" ;; [0-9]*) return 0 ;; *) failure="no status ($st)" ;; esac
  else
    failure="daemon exited"
  fi
  failure="$failure in phase $(cat "$work/phase"): $(grep -m1 -oE '[A-Za-z.]*Exception: [^|]{0,120}' "$work/big.log" | sed -n 1p || echo 'no exception logged')"
  echo "    FAILED: $failure" >&2
  grep -m2 -E 'fail:|crit:' "$work/big.log" | cut -c1-400 >&2
  return 1
}
big_load() { # each phase, stopping at the first that leaves the daemon dead or the volume failed
  phase big-randwrite
  run_fio big "$write_s" --rw=randwrite; big_ok || return 1
  phase big-randread
  run_fio big "$read_s" --rw=randread; big_ok || return 1
  # Large payloads: 1 MiB reads (of holes: no disk space) rent 2 MiB reply buffers from ArrayPool.Shared.
  phase big-randread-1m
  run_fio big 5 --rw=randread --bs=1m --iodepth=8; big_ok || return 1
  phase big-checkpoint-digest
  checkpoint big > /dev/null; wait_digest big; big_ok || return 1
  local r cp
  for r in $(seq 1 "$rounds"); do
    # Writes, a checkpoint half-way (its digest runs under load, between first-write commits), and a
    # checkpoint at the end whose digest runs idle over the writeset the second half populated.
    phase "big-round$r-write+checkpoint"
    ( sleep $((round_s / 2)); checkpoint big > /dev/null 2>&1 ) & cp=$!; pids+=($cp)
    run_fio big "$round_s" --rw=randwrite
    wait "$cp"; big_ok || return 1
    phase "big-round$r-checkpoint-digest"
    checkpoint big > /dev/null; wait_digest big; big_ok || return 1
  done
  phase big-map
  local ctx start n
  for ctx in x-dm-era:written-since:1 x-dm-era:era; do
    start=$(date +%s.%N)
    n=$(nbdinfo --map="$ctx" "$(uri big)" | wc -l)
    echo "    nbdinfo --map=$ctx over 1 TiB: $n extents in $(echo "$(date +%s.%N) - $start" | bc | cut -c1-5) s" >&2
  done
  big_ok || return 1
  phase big-idle-after
  sleep "$idle_s"
}
# Called in an || list, so errexit is off inside: every step is checked by big_ok instead.
big_load || true

if [ -z "$failure" ] && [ "${DIAGNOSE:-0}" = 1 ]; then
  phase big-diagnose
  if command -v dotnet-counters > /dev/null; then
    dotnet-counters collect -p "$bpid" --counters System.Runtime --duration 00:00:04 --format json -o "$work/counters.json" > /dev/null 2>&1 || true
    python3 - "$work/counters.json" >&2 <<'EOF' || true
import json, sys
last = {}
for e in json.load(open(sys.argv[1]))["Events"]:
    tags = e.get("tags") or ""
    last[(e["name"].split(" (")[0], tags)] = e["value"]
print("    dotnet-counters (MiB):")
for (name, tags), v in sorted(last.items()):
    if any(s in name for s in ("heap.size", "committed_size", "working_set", "fragmentation")):
        print("      %-55s %-25s %8.1f" % (name, tags, v / 1048576))
EOF
  fi
  if command -v dotnet-gcdump > /dev/null; then
    # Collecting a gcdump forces a full blocking GC: what survives it is the live heap.
    dotnet-gcdump collect -p "$bpid" -o "$work/big.gcdump" > /dev/null 2>&1 || true
    [ -f "$work/big.gcdump" ] && dotnet-gcdump report "$work/big.gcdump" 2>/dev/null | head -14 | sed 's/^/      /' >&2
    sleep 1
    phase big-after-full-gc
    sleep 2
  fi
fi
# The last round's writes are still in the current era: stop archives it and digests it before exiting.
if [ -z "$failure" ]; then
  phase big-stop
  run_fio big 3 --rw=randwrite
  stop_daemon "$bpid"
else
  kill -TERM "$bpid" 2>/dev/null || true; wait "$bpid" 2>/dev/null || true
fi
phase none
alloc_kib=$(du -k "$work/big.img" | cut -f1); meta_kib=$(du -k "$work/big.meta" | cut -f1)
df_after=$(df -k --output=avail "$work" | tail -1)

# --- report -----------------------------------------------------------------------------------------------
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
# Per phase: peak (the highest sampled RSS, or the VmHWM reached when it rose during the phase), VmHWM at
# the phase's last sample, median sampled RSS, samples.
awk '{ ph = $1; pid = $2; rss = $3; hwm = $4
       if (!(ph in n)) { name[++k] = ph; start[ph] = (pid in last) ? last[pid] : 0 }
       n[ph]++; v[ph, n[ph]] = rss; if (rss > peak[ph]) peak[ph] = rss; end[ph] = hwm; last[pid] = hwm }
     END { for (i = 1; i <= k; i++) { p = name[i]; m = n[p]
             if (end[p] > start[p] && end[p] > peak[p]) peak[p] = end[p]
             for (a = 1; a <= m; a++) s[a] = v[p, a]
             for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++) if (s[b] < s[a]) { t = s[a]; s[a] = s[b]; s[b] = t }
             print p, peak[p], end[p], s[int((m + 1) / 2)], m } }' "$work/samples" > "$work/phases"
baseline_kib=$(awk '$1 == "small-idle" { print $4 }' "$work/phases")
console_kib=$(awk '$1 == "console-idle" { print $4 }' "$work/phases")
echo
echo "Machine: before $machine_before; after $(machine); dotnet $(dotnet --version); GC settings from the environment: $(env | grep -i '^DOTNET_GC' | tr '\n' ' ' || true)"
echo "Origin 1 TiB sparse, $nr_blocks tracking blocks of $block_sectors sectors; target = 4 x nr_blocks + 64 MiB = $(mib "$target_kib") MiB above the baseline."
echo "Baseline (daemon on a 64 MiB volume, idle, median): $(mib "$baseline_kib") MiB. Bare .NET console process: $(mib "$console_kib") MiB."
echo
echo "| phase | peak RSS MiB | VmHWM MiB | median RSS MiB | peak above baseline MiB | target MiB | pass |"
echo "|---|---|---|---|---|---|---|"
while read -r p max hwm med n; do
  [ "$p" = none ] && continue
  above=$(( max - baseline_kib ))
  case "$p" in
    big-diagnose) ok="- (tools attached)"; tgt=$(mib "$target_kib") ;;
    big-*) ok=$([ "$above" -le "$target_kib" ] && echo pass || echo FAIL); tgt=$(mib "$target_kib") ;;
    *) ok="-"; tgt="-" ;;
  esac
  echo "| $p | $(mib "$max") | $(mib "$hwm") | $(mib "$med") | $([ "${p%%-*}" = big ] && mib "$above" || echo -) | $tgt | $ok |"
done < "$work/phases"
big_hwm=$(awk '$1 ~ /^big-/ && $3 > h { h = $3 } END { print h }' "$work/phases")
echo
if [ -n "$failure" ]; then
  echo "**FAIL: the 1 TiB daemon did not survive the load: $failure.** The phases after it did not run."
fi
verdict=$([ -z "$failure" ] && [ $((big_hwm - baseline_kib)) -le "$target_kib" ] && echo PASS || echo FAIL)
echo "Daemon high-water mark on the 1 TiB volume: $(mib "$big_hwm") MiB, $(mib $((big_hwm - baseline_kib))) MiB above the baseline (target $(mib "$target_kib")): **$verdict**."
echo "Space: origin apparent 1 TiB, allocated $(mib "$alloc_kib") MiB (the 4k writes themselves); metadata 256 MiB, allocated $(mib "$meta_kib") MiB; free space on $(df --output=target "$work" | tail -1) went from $(mib "$df_before") to $(mib "$df_after") MiB (a shared disk: other processes move it too)."
