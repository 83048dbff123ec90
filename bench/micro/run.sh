#!/usr/bin/env bash
# BenchmarkDotNet micro benchmarks (bench/micro/README.md), short jobs: all of them take 3-5 minutes on
# 2 cores. Run nothing else heavy meanwhile; the machine's load is printed before and after.
# Usage: bench/micro/run.sh [CATEGORY ...]     categories: bitset nbd btree digest group-commit (default: all)
#        KEEP=DIR bench/micro/run.sh ...        keep BenchmarkDotNet's reports and logs in DIR
# Extra BenchmarkDotNet options go after --, e.g. bench/micro/run.sh nbd -- --filter '*ServeRequests*'
set -euo pipefail
cd "$(dirname "$0")/../.."

categories=()
while [[ $# -gt 0 && $1 != -- ]]; do categories+=("$1"); shift; done
[[ ${1:-} == -- ]] && shift
[[ ${#categories[@]} -eq 0 ]] && categories=(bitset nbd btree digest group-commit)

if [[ -n ${KEEP:-} ]]; then
  artifacts=$KEEP
  mkdir -p "$artifacts"
else
  artifacts=$(mktemp -d "${TMPDIR:-/tmp}/dmera-micro-artifacts.XXXXXX")
  trap 'rm -rf "$artifacts"' EXIT
fi

# BenchmarkDotNet wants exactly one --filter; '*' unless the extra options bring their own.
filter=(--filter '*')
for a in "$@"; do [[ $a == --filter || $a == -f ]] && filter=(); done

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), nproc: $(nproc), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
dotnet run -c Release --project bench/micro -- \
  "${filter[@]}" --anyCategories "${categories[@]}" --artifacts "$artifacts" "$@" || status=$?
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
