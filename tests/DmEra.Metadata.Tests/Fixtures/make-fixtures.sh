#!/bin/sh
# Regenerates the golden era fixtures with the C++ thin-provisioning-tools 0.9.0 (Debian 12 package).
# Run from this directory: sh make-fixtures.sh. The *.input.xml files are the sources; everything else
# is tool output. era_restore 0.9.0 is deterministic: the same input gives the same image bytes.
set -eu

# Input for the non-power-of-two case: 24-sector blocks (a multiple of 8, as the kernel requires, but not
# a power of two), 1019 blocks (one past an era-array block of 1018 entries), two writesets.
awk 'BEGIN {
  n = 1019
  print "<superblock uuid=\"\" block_size=\"24\" nr_blocks=\"" n "\" current_era=\"40\">"
  print "  <writeset era=\"38\" nr_bits=\"" n "\">"
  for (i = 0; i < n; i += 97) print "    <bit block=\"" i "\" value=\"true\"/>"
  print "  </writeset>"
  print "  <writeset era=\"39\" nr_bits=\"" n "\">"
  for (i = 1000; i < n; i++) print "    <bit block=\"" i "\" value=\"true\"/>"
  print "  </writeset>"
  print "  <era_array>"
  for (i = 0; i < n; i++) if (i % 5 != 0) print "    <era block=\"" i "\" era=\"" (i % 37) "\"/>"
  print "  </era_array>"
  print "</superblock>"
}' > odd-block-size.input.xml

for fixture in "three-writesets 0 2 3 6" "one-block 0 2 3" "odd-block-size 0 20 38 39 41"; do
  set -- $fixture
  name=$1
  shift
  rm -f "$name.metadata"
  # 64 KiB: era_restore 0.9.0 refuses outputs under 32 KiB ("Output file too small.") and the
  # 16-block case needs 13 metadata blocks (52 KiB); mostly zero, so stored gzip-compressed.
  truncate -s 65536 "$name.metadata"
  era_restore -i "$name.input.xml" -o "$name.metadata"
  era_check "$name.metadata"
  era_dump "$name.metadata" > "$name.dump.xml"
  era_dump --logical "$name.metadata" > "$name.logical.xml"
  for era in "$@"; do
    era_invalidate --written-since "$era" "$name.metadata" > "$name.invalidate-$era.xml"
  done
  gzip -9 -n -f "$name.metadata"
done
