#!/usr/bin/env bash
# The digest's one open transaction, seen as metadata space instead of memory: a 1 TiB origin at 64 KiB blocks
# (16,777,216 tracking blocks, an era array of ~16,400 metadata blocks) on a metadata file of METADATA_SIZE.
# Rounds of random 4k writes over the whole origin, each followed by a checkpoint whose background digest
# folds the writeset into the era array. A digest that shadows most of the era array before committing needs a
# second copy of it (the old blocks stay referenced by the last commit until the digest's own commit), so a
# metadata file big enough for the committed state can still run out mid-digest; the volume then fails.
# Prints each round's state and status line, and the first metadata error. Usage:
#   bench/memory/digest-space.sh [METADATA_SIZE (120M)] [ROUNDS (3)]      (DMERA_PROJECT: another build)
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
top="$(cd "$here/../.." && pwd)"
project="${DMERA_PROJECT:-$top/src/DmEra}"
msize="${1:-120M}"
rounds="${2:-3}"
work="$(mktemp -d /tmp/dmera-bench-digest-space.XXXXXX)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

dotnet build -c Release "$project" -o "$work/dmera" > /dev/null || exit 1
dmera=(dotnet "$work/dmera/dmera.dll")
truncate -s 1T "$work/origin.img"
truncate -s "$msize" "$work/meta"
"${dmera[@]}" serve --volume "name=v,origin=$work/origin.img,metadata=$work/meta,block-size=128" \
  --listen 127.0.0.1:0 --socket "$work/v.sock" --admin-socket "$work/admin.sock" > "$work/log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do [ -S "$work/v.sock" ] && [ -S "$work/admin.sock" ] && break; sleep 0.1; done
[ -S "$work/admin.sock" ] || { cat "$work/log"; exit 1; }
state() {
  "${dmera[@]}" status --admin-socket "$work/admin.sock" --json v |
    python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["state"], "|", d["status"])'
}
echo "metadata $msize, 1 TiB origin, 16777216 blocks"
for r in $(seq 1 "$rounds"); do
  iops=$(fio --name=w --ioengine=nbd --uri="nbd+unix:///v?socket=$work/v.sock" --rw=randwrite --bs=4k --iodepth=16 \
           --size=1T --time_based --runtime=8 --randrepeat=0 --output-format=json 2>/dev/null | sed -n '/^{/,$p' |
         python3 -c 'import json, sys; j = json.load(sys.stdin)["jobs"][0]; print("%.0f write IOPS, %d errors" % (j["write"]["iops"], j["error"]))')
  "${dmera[@]}" message --admin-socket "$work/admin.sock" v checkpoint > /dev/null 2>&1
  sleep 6
  echo "round $r: $iops; after checkpoint + digest: $(state)"
done
grep -m1 -o 'MetadataSpaceExhaustedException: .* in use' "$work/log" | sed -n 1p | grep . || echo "no metadata error"
kill -TERM "$pid"; wait "$pid"; pid=""
