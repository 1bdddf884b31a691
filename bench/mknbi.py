#!/usr/bin/env python3
"""Benchmark ramsesbuild.nbi: wall time to wrap a 10 MB bzImage (and a 10 MB bzImage + 4 MB
initrd) as NBI and as ELF, and to check the result with nbi-info's inspect_image.

    python3 bench/mknbi.py [--repeat N] [--kernel PATH]

Prints the median of N runs (default 5) per case. The page cache is warm after the first
run, so this measures our code plus writing (with fsync) to the temp directory's disk.
"""

from __future__ import annotations

import argparse
import random
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ramsesbuild.nbi import MknbiOptions, build_image, inspect_image

MB = 1 << 20


def fake_bzimage(size: int, setup_sects: int = 27) -> bytes:
    """Random bytes with a boot-protocol 2.15 bzImage header (what mknbi reads)."""
    data = bytearray(random.Random(0).randbytes(size))
    data[0x1F1] = setup_sects
    data[0x1FE:0x200] = b"\x55\xaa"
    data[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", data, 0x206, 0x020F)
    data[0x211] = 0x01
    struct.pack_into("<I", data, 0x238, 2047)
    return bytes(data)


def timed(fn, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--kernel", type=Path, help="use this bzImage instead of a synthetic 10 MB one")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-mknbi-") as tmp:
        t = Path(tmp)
        kernel = args.kernel or t / "bzImage"
        if args.kernel is None:
            kernel.write_bytes(fake_bzimage(10 * MB))
        initrd = t / "initrd"
        initrd.write_bytes(random.Random(1).randbytes(4 * MB))
        size = kernel.stat().st_size
        print(f"kernel {kernel} ({size / MB:.1f} MiB), initrd 4.0 MiB, median of {args.repeat} runs")
        cases = [
            ("nbi", None), ("elf", None), ("nbi", initrd), ("elf", initrd),
        ]
        for fmt, rd in cases:
            out = t / f"out.{fmt}"
            opts = MknbiOptions(format=fmt, initrd=rd, ip="rom", rootdir="rom")
            secs = timed(lambda out=out, opts=opts: build_image(kernel, out, opts), args.repeat)
            total = out.stat().st_size
            label = f"build {fmt}{' + initrd' if rd else ''}"
            print(f"  {label:<20} {secs * 1000:8.1f} ms   {total / MB / secs:7.0f} MiB/s   ({total} bytes)")
            secs = timed(lambda out=out: inspect_image(out), args.repeat)
            print(f"  {'nbi-info ' + fmt:<20} {secs * 1000:8.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
