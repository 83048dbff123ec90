#!/usr/bin/python3
"""What the size of a write does to later small writes, on this kernel and filesystem; no dmera involved.

Usage: bench/folio/run.py [PIECE_KIB ...]   (default: 1024 256 64 4)

For each piece size: fill a sparse 1 GiB file with writes of that size (MiB/s), rewrite it the same way
with the pages cached (MiB/s), then time random 4 KiB pwrites into it for 2 s (µs). Linux 6.x caches an
ext4 write in folios as large as the write, and a small write into a large cached folio costs in proportion
to the folio: this is why dmera's DiskFile writes at most DiskFile.WritePieceBytes at a time. The file is
made beside the checkout (the disk dmera's benchmarks use) and removed at the end; about 30 s.
"""
import os, random, sys, time

def main():
    pieces = [int(a) * 1024 for a in sys.argv[1:]] or [1 << 20, 256 << 10, 64 << 10, 4 << 10]
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "..", "..", f"dmera-folio-{os.getpid()}.bin")
    size = 1 << 30
    data = memoryview(os.urandom(1 << 20))
    small = os.urandom(4096)
    print(f"{os.uname().release}, {path}")
    print("| piece | sparse fill MiB/s | cached rewrite MiB/s | then random 4 KiB pwrite p50 µs | mean µs |")
    print("|---|---|---|---|---|")
    try:
        for piece in pieces:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.ftruncate(fd, size)
                rates = []
                for _ in range(2):
                    start = time.perf_counter()
                    for off in range(0, size, 1 << 20):
                        for k in range(0, 1 << 20, piece):
                            os.pwrite(fd, data[k:k + piece], off + k)
                    rates.append(1024 / (time.perf_counter() - start))
                    os.fsync(fd)
                times = []
                end = time.monotonic() + 2
                while time.monotonic() < end:
                    off = random.randrange(size // 4096) * 4096
                    t = time.perf_counter_ns()
                    os.pwrite(fd, small, off)
                    times.append(time.perf_counter_ns() - t)
                times.sort()
                print(f"| {piece >> 10} KiB | {rates[0]:.0f} | {rates[1]:.0f} | {times[len(times) // 2] / 1000:.1f} | {sum(times) / len(times) / 1000:.1f} |")
            finally:
                os.close(fd)
                os.unlink(path)
    finally:
        if os.path.exists(path):
            os.unlink(path)

if __name__ == "__main__":
    main()
