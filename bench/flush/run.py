#!/usr/bin/env python3
"""What a metadata commit costs on this disk before dmera adds anything: 4 KiB writes and fdatasyncs in a
loop on a file beside the repository (the same file system as a volume's metadata), timed per iteration.

  commit-like rows: N blocks written, fdatasync, the superblock (block 0) written, fdatasync, as a commit;
  the blocks side by side as N pwrites or one pwritev, or scattered over the file;
  hole rows: one 4 KiB write and fdatasync into a hole / a fallocated extent / a block written before;
  intent-log rows: an append as the intent log makes it (the block holding the tail rewritten, 8 appends a
  block, in a 4 MiB file written with zeros), with pwrite + fdatasync, pwritev2(RWF_DSYNC), and
  O_DIRECT + RWF_DSYNC.

Usage: bench/flush/run.py [ITERATIONS=800] [DIR=the repository's parent]. Prints p50/mean/p99 in µs per row,
two passes (the machine is noisy: compare rows of one pass). Takes about a minute; removes its file."""
import mmap, os, random, statistics, sys, time

iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 800
directory = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
path = os.path.join(directory, f"dmera-flush-cost-{os.getpid()}.bin")
block = b"x" * 4096
file_blocks = 16384                       # 64 MiB, as bench/peers' metadata file


def row(name, step, n=iterations):
    times = []
    for i in range(n):
        t = time.perf_counter()
        step(i)
        times.append((time.perf_counter() - t) * 1e6)
    times.sort()
    print(f"| {name:46s} | {times[n // 2]:7.0f} | {statistics.mean(times):7.0f} | {times[int(n * .99)]:7.0f} |")


def log_rows():
    log = path + ".log"
    fd = os.open(log, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, b"\0" * (4 << 20)); os.fsync(fd)
        tail = lambda i: ((i // 8) % 1023 + 1) * 4096
        row("log append: pwrite + fdatasync", lambda i: (os.pwrite(fd, block, tail(i)), os.fdatasync(fd)))
        row("log append: pwritev2 RWF_DSYNC", lambda i: os.pwritev(fd, [block], tail(i), os.RWF_DSYNC))
    finally:
        os.close(fd)
    fd = os.open(log, os.O_RDWR | os.O_DIRECT)
    aligned = mmap.mmap(-1, 4096)   # page-aligned, as O_DIRECT wants
    aligned.write(block)
    try:
        row("log append: O_DIRECT + RWF_DSYNC", lambda i: os.pwritev(fd, [aligned], tail(i), os.RWF_DSYNC))
    finally:
        os.close(fd)
        os.unlink(log)


def main():
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, b"\0" * (file_blocks * 4096))   # written, not sparse: overwrites in place
        os.fsync(fd)

        def commit(write_blocks):
            def step(i):
                write_blocks(i)
                os.fdatasync(fd)
                os.pwrite(fd, block, 0)
                os.fdatasync(fd)
            return step

        def side_by_side(i):
            base = 1 + (i * 16) % (file_blocks - 32)
            for k in range(11):
                os.pwrite(fd, block, (base + k) * 4096)

        def one_pwritev(i):
            os.pwritev(fd, [block] * 11, (1 + (i * 16) % (file_blocks - 32)) * 4096)

        def scattered(i):
            for _ in range(11):
                os.pwrite(fd, block, random.randrange(1, file_blocks) * 4096)

        for p in (1, 2):
            print(f"\npass {p}, {iterations} iterations, {path}\n")
            print("| row | p50 µs | mean µs | p99 µs |\n|---|---|---|---|")
            row("commit-like: 11 blocks side by side, 11 pwrites", commit(side_by_side))
            row("commit-like: 11 blocks side by side, 1 pwritev", commit(one_pwritev))
            row("commit-like: 11 blocks scattered", commit(scattered))
            for kind in ("hole", "fallocated", "written"):
                hfd = os.open(path + "." + kind, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    if kind == "hole": os.ftruncate(hfd, 64 << 20)
                    elif kind == "fallocated": os.posix_fallocate(hfd, 0, 64 << 20)
                    else: os.write(hfd, b"\0" * (64 << 20)); os.fsync(hfd)
                    row(f"4 KiB into a {kind} block + fdatasync", lambda i: (os.pwrite(hfd, block, i * 8192), os.fdatasync(hfd)))
                finally:
                    os.close(hfd)
                    os.unlink(path + "." + kind)
            log_rows()
    finally:
        os.close(fd)
        os.unlink(path)


main()
