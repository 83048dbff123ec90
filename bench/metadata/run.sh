#!/usr/bin/env bash
# Metadata tools side by side: dmera dump / restore / invalidate against the C++ era_dump /
# era_restore / era_invalidate (thin-provisioning-tools 0.9.0) on the same 16,777,216-block
# metadata (a 1 TiB origin at 64 KiB blocks), alternating runs so machine drift cancels.
# Prints a markdown table of medians, peak RSS and ratios. Usage: bench/metadata/run.sh [ROUNDS]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
top="$(cd "$here/../.." && pwd)"
rounds="${1:-3}"
blocks="${BLOCKS:-16777216}"
work="$(mktemp -d /tmp/dmera-bench-meta.XXXXXX)"
trap 'rm -rf "$work"' EXIT

dotnet build -c Release "$top/src/DmEra" -o "$work/dmera" >/dev/null
dotnet build -c Release "$here/MakeMetadata" -o "$work/make" >/dev/null
dmera=(dotnet "$work/dmera/dmera.dll")

truncate -s 512M "$work/meta.bin"
dotnet "$work/make/MakeMetadata.dll" make "$work/meta.bin" "$blocks" 2
era_check "$work/meta.bin"

# Restore needs XML: the C++ dump of the same metadata is the input both restores read.
era_dump -o "$work/dump.xml" "$work/meta.bin"
ls -lh "$work/dump.xml" | awk '{print "XML input: " $5}'

measure() { # name, command... → "seconds maxrss_kb"
  local name="$1"; shift
  /usr/bin/time -f "%e %M" -o "$work/time.$name" "$@" >/dev/null 2>"$work/err.$name" || { cat "$work/err.$name"; exit 1; }
  cat "$work/time.$name"
}

declare -A t m
for r in $(seq 1 "$rounds"); do
  for pair in "dump" "invalidate" "restore"; do
    for who in cxx dmera; do
      case "$pair/$who" in
        dump/cxx)         out=$(measure d1 era_dump -o "$work/out-cxx.xml" "$work/meta.bin") ;;
        dump/dmera)       out=$(measure d2 "${dmera[@]}" dump -o "$work/out-dmera.xml" "$work/meta.bin") ;;
        invalidate/cxx)   out=$(measure i1 era_invalidate --written-since 5 -o "$work/inv-cxx.xml" "$work/meta.bin") ;;
        invalidate/dmera) out=$(measure i2 "${dmera[@]}" invalidate --written-since 5 -o "$work/inv-dmera.xml" "$work/meta.bin") ;;
        restore/cxx)      truncate -s 512M "$work/r-cxx.bin"; out=$(measure r1 era_restore -q -i "$work/dump.xml" -o "$work/r-cxx.bin") ;;
        restore/dmera)    truncate -s 512M "$work/r-dmera.bin"; out=$(measure r2 "${dmera[@]}" restore -q -i "$work/dump.xml" -o "$work/r-dmera.bin") ;;
      esac
      t[$pair/$who]+="${out% *} "
      m[$pair/$who]+="${out#* } "
    done
  done
  cmp -s "$work/out-cxx.xml" "$work/out-dmera.xml" || { echo "dumps differ"; exit 1; }
  diff -q <(sed 's/ end = / end=/' "$work/inv-cxx.xml") "$work/inv-dmera.xml" >/dev/null || { echo "invalidate lists differ"; exit 1; }
  era_check "$work/r-dmera.bin"
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "| tool | C++ 0.9.0 s | dmera s | time ratio (C++/dmera, >1 = dmera faster) | C++ max RSS MiB | dmera max RSS MiB |"
echo "|---|---|---|---|---|---|"
for pair in dump invalidate restore; do
  c=$(echo "${t[$pair/cxx]}" | median); d=$(echo "${t[$pair/dmera]}" | median)
  cm=$(echo "${m[$pair/cxx]}" | median); dm=$(echo "${m[$pair/dmera]}" | median)
  printf "| %s | %s | %s | %.2f | %d | %d |\n" "$pair" "$c" "$d" "$(echo "$c / $d" | bc -l)" $((cm/1024)) $((dm/1024))
done
echo
echo "Commit cost (blocks written per commit for k new bits, $blocks-block metadata):"
truncate -s 512M "$work/cc.bin"
dotnet "$work/make/MakeMetadata.dll" commit-cost "$work/cc.bin" "$blocks"
