#!/usr/bin/python3
"""Brings a previous full copy up to a backup view: copies only the ranges the view's dirty bitmap marks.

    /usr/bin/python3 docs/apply-dirty.py VIEW_URI qemu:dirty-bitmap:since-N IMAGE

VIEW_URI is the VOLUME@backup export of a view taken with `take_backup_snap N` (N = the era the previous
copy's view closed, plus one: that era is all in the copy); IMAGE is that previous copy, updated in place. Needs python3-libnbd.
"""
import os
import sys

import nbd

MAX_READ = 32 << 20  # the server's (and the spec's interoperable) largest read


def dirty_ranges(h, bitmap):
    size, offset = h.get_size(), 0
    while offset < size:
        extents = []

        def got(ctx, _start, entries, _err):
            if ctx == bitmap:
                extents.extend(zip(entries[0::2], entries[1::2]))
            return 0

        h.block_status(min(size - offset, 1 << 31), offset, got)
        if not extents:
            sys.exit(f"no {bitmap} extents at offset {offset}")
        for length, flags in extents:
            length = min(length, size - offset)
            if flags & 1:
                yield offset, length
            offset += length
            if offset >= size:
                break


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    uri, bitmap, image = sys.argv[1:]
    h = nbd.NBD()
    h.add_meta_context(bitmap)
    h.connect_uri(uri)
    if not h.can_meta_context(bitmap):
        sys.exit(f"{uri} does not offer {bitmap} (was the view taken with SINCE?)")
    # The image must be the previous full copy of this volume: one of another size is the wrong file, and
    # writing only the dirty ranges into it would leave a backup that looks complete and is not.
    try:
        image_size = os.stat(image).st_size
    except OSError as e:
        sys.exit(f"{image}: {e.strerror}")
    if image_size != h.get_size():
        sys.exit(f"{image} is {image_size} bytes, the view {h.get_size()}: it is not a copy of this volume")
    copied = ranges = 0
    with open(image, "r+b") as out:
        for start, length in dirty_ranges(h, bitmap):
            for pos in range(start, start + length, MAX_READ):
                n = min(MAX_READ, start + length - pos)
                out.seek(pos)
                out.write(h.pread(n, pos))
            copied += length
            ranges += 1
    h.shutdown()
    print(f"copied {copied} bytes in {ranges} dirty ranges")


if __name__ == "__main__":
    main()
