#!/usr/bin/env bash
# The one command that sets up a fresh Debian machine and runs every test (README "Run the tests").
set -euo pipefail
cd "$(dirname "$0")/.."

# Real peers the tests drive: the era_* tools (thin-provisioning-tools) and the NBD clients; libxxhash0 for
# the backup checksum (Xxh128Tests checks the native path is the one in use).
packages=(thin-provisioning-tools qemu-utils libnbd-bin python3-libnbd nbdkit fio openssl git libxxhash0)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q "${missing[@]}"
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
dotnet test DmEra.sln -c Release --logger "console;verbosity=normal" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over all test projects, in the plain form CI reads.
passed=$(awk '/^ *Passed: *[0-9]+$/ {s += $2} END {print s + 0}' "$log")
failed=$(awk '/^ *Failed: *[0-9]+$/ {s += $2} END {print s + 0}' "$log")
# The failed tests' names and first error lines again at the end, where a truncated CI log still shows them.
awk '/^ *Failed [A-Za-z_]/ {n = 8; print "FAILED:" $0; next}
     n > 0 {print "  " $0; n--}' "$log" | head -80
echo "tests: $passed passed, $failed failed"
exit "$status"
