"""Whole analysis without ASR vs PyAV decode-only on the same file, as the commands a user types.

    python -m bench.analysis_speed [--input FILE] [--runs 3]

Ours: `streamapp analyze FILE --no-asr --json`. Theirs: a PyAV decode of every frame (frame threading, as
PyAV users decode) run as `python -c ...`. The machine is shared and noisy, so the two alternate ``--runs``
times, side by side, and the median of the per-pair ratios is reported (target >= 1.2), in wall time and in
CPU time (user + system of the command and its threads: what load beside the bench disturbs least). Default
input: a 10-minute 720p30 talk (speech-green-screen looped).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import machine, ten_minute_input

BIN = Path(sys.executable).parent
PYAV_DECODE = ("import av, sys\nwith av.open(sys.argv[1]) as c:\n    s = c.streams.video[0]\n"
               "    s.thread_type = 'AUTO'\n    n = sum(1 for _ in c.decode(s))\n")


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of a command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", default=None)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    path = args.input or ten_minute_input()
    ours = [str(BIN / "streamapp"), "analyze", path, "--no-asr", "--json"]
    theirs = [sys.executable, "-c", PYAV_DECODE, path]
    timed(ours)  # warm: numba cache, page cache
    print(machine(), "|", path, f"({os.path.getsize(path) / 1e6:.0f} MB)")
    walls, cpus = [], []
    for i in range(args.runs):
        pair = [("decode", theirs), ("analyze", ours)]
        got = dict((name, timed(cmd)) for name, cmd in (pair if i % 2 == 0 else pair[::-1]))
        walls.append(got["decode"][0] / got["analyze"][0])
        cpus.append(got["decode"][1] / got["analyze"][1])
        print(f"run {i + 1}: PyAV decode-only {got['decode'][0]:.1f} s ({got['decode'][1]:.1f} s CPU), "
              f"streamapp analyze --no-asr {got['analyze'][0]:.1f} s ({got['analyze'][1]:.1f} s CPU): "
              f"{walls[-1]:.2f}x wall, {cpus[-1]:.2f}x CPU", flush=True)
    print(f"median analysis speed / decode-only speed: **{statistics.median(walls):.2f}x** wall (min "
          f"{min(walls):.2f}, max {max(walls):.2f}), {statistics.median(cpus):.2f}x CPU")


if __name__ == "__main__":
    main()
