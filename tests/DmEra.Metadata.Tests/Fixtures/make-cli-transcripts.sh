#!/bin/sh
# Records how the C++ era tools (thin-provisioning-tools 0.9.0, Debian 12) behave at their edges:
# help, version, bad inputs, exit codes. Run from this directory: sh make-cli-transcripts.sh
# Writes cli-transcripts.txt. Paths are relative to a scratch directory so the transcript is stable.
set -u
here=$(pwd)
out="$here/cli-transcripts.txt"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

gunzip -c "$here/three-writesets.metadata.gz" > metadata.bin        # good metadata, current_era 5
cp "$here/three-writesets.dump.xml" dump.xml                          # era_dump output (2418 bytes)
cp "$here/odd-block-size.dump.xml" big-dump.xml                       # era_dump output over 4 KiB
mkdir dir
head -c 100 metadata.bin > small.bin                                  # under one 4 KiB block
truncate -s 4095 small4095.bin
truncate -s 65536 zeros.bin                                           # zeroed metadata
cp metadata.bin badcsum.bin                                           # nr_blocks changed, checksum not
printf '\377' | dd of=badcsum.bin bs=1 seek=180 conv=notrunc 2>/dev/null
echo 'hello, not xml' > text.txt
: > empty.bin

run() {
  printf '$ %s\n' "$*" >> "$out"
  "$@" > stdout.txt 2> stderr.txt < /dev/null
  rc=$?
  printf '[exit %s]\n--- stdout\n' "$rc" >> "$out"
  cat stdout.txt >> "$out"
  printf -- '--- stderr\n' >> "$out"
  cat stderr.txt >> "$out"
  printf '\n' >> "$out"
}

{
  echo "# C++ era tools 0.9.0: command, exit code, stdout, stderr. Made by make-cli-transcripts.sh."
  echo "# metadata.bin = three-writesets fixture (good); dump.xml = its era_dump output;"
  echo "# big-dump.xml = the odd-block-size fixture dump (107 KB);
# small.bin = 100 bytes; small4095.bin = 4095 zero bytes; zeros.bin = 64 KiB of zeros;"
  echo "# badcsum.bin = metadata.bin with byte 180 (nr_blocks) changed and the checksum left stale;"
  echo "# dir = a directory; text.txt = one line of text; empty.bin = 0 bytes; missing.bin does not exist."
  echo
} > "$out"

for tool in era_check era_dump era_invalidate era_restore; do
  echo "######## $tool" >> "$out"
  run $tool -h
  run $tool --help
  run $tool -V
  run $tool --version
  run $tool
  run $tool --no-such-option
done

echo "######## era_check" >> "$out"
run era_check metadata.bin
run era_check -q metadata.bin
run era_check --super-block-only metadata.bin
run era_check missing.bin
run era_check dir
run era_check empty.bin
run era_check small.bin
run era_check small4095.bin
run era_check dump.xml
run era_check big-dump.xml
run era_check text.txt
run era_check zeros.bin
run era_check -q zeros.bin
run era_check badcsum.bin
run era_check metadata.bin zeros.bin

echo "######## era_dump" >> "$out"
run era_dump metadata.bin
run era_dump --logical metadata.bin
run era_dump --repair metadata.bin
run era_dump -o out.xml metadata.bin
run cat out.xml
run era_dump -o dir metadata.bin
run era_dump missing.bin
run era_dump dir
run era_dump empty.bin
run era_dump small.bin
run era_dump small4095.bin
run era_dump dump.xml
run era_dump big-dump.xml
run era_dump -o never.xml missing.bin
run ls never.xml
run era_dump zeros.bin
run era_dump badcsum.bin
run era_dump --repair badcsum.bin
run era_dump -o partial.xml zeros.bin
run wc -c partial.xml
# Metadata that era_restore accepts but era_check/era_dump call damaged: nr_blocks 0, a writeset of 0 bits.
echo '<superblock uuid="" block_size="128" nr_blocks="0" current_era="0"><writeset era="0" nr_bits="0"/></superblock>' > zero-blocks.xml
cp zeros.bin damaged.bin
run era_restore -i zero-blocks.xml -o damaged.bin
run era_check damaged.bin
run era_dump damaged.bin
run era_dump --repair damaged.bin
run era_dump --logical damaged.bin
run era_invalidate --written-since 0 damaged.bin

echo "######## era_invalidate" >> "$out"
run era_invalidate --written-since 2 metadata.bin
run era_invalidate --written-since=2 metadata.bin
run era_invalidate metadata.bin
run era_invalidate --written-since 2
run era_invalidate --written-since abc metadata.bin
run era_invalidate --written-since -1 metadata.bin
run era_invalidate --written-since 4294967296 metadata.bin
run era_invalidate --written-since 2 --metadata-snapshot metadata.bin
run era_invalidate --written-since 2 -o inv.xml metadata.bin
run cat inv.xml
run era_invalidate --written-since 2 missing.bin
run era_invalidate --written-since 2 dir
run era_invalidate --written-since 2 small.bin
run era_invalidate --written-since 2 dump.xml
run era_invalidate --written-since 2 big-dump.xml
run era_invalidate --written-since 2 zeros.bin
run era_invalidate --written-since 2 badcsum.bin

echo "######## era_restore" >> "$out"
cp zeros.bin restored.bin
run era_restore -i dump.xml -o restored.bin
run era_check restored.bin
run era_restore -i dump.xml
run era_restore -o restored.bin
run era_restore -i missing.xml -o restored.bin
run era_restore -i dir -o restored.bin
run era_restore -i dump.xml -o missing.bin
run era_restore -i dump.xml -o dir
run era_restore -i dump.xml -o empty.bin
run era_restore -i dump.xml -o small.bin
cp zeros.bin target.bin
run era_restore -i text.txt -o target.bin
run era_check target.bin
cp zeros.bin target.bin
run era_restore -i metadata.bin -o target.bin
cp zeros.bin target.bin
run era_restore -i empty.bin -o target.bin
cp metadata.bin target.bin
run era_restore -q -i text.txt -o target.bin
run era_check target.bin
