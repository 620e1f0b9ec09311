"""Start-up: `streamapp analyze --no-asr` on a 10 s clip, first run after install vs. later runs, beside
PyAV decode-only of the same clip as a command, and the time to the first decoded frame of each, all in one run.

Usage: python bench/startup.py [CLIP] [--reps 3]
"First run after install" empties a private numba cache; "after warm" runs `python -m streamapp.warm`
into it first, as scripts/run.sh and scripts/test.sh do after installing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import SOURCE, machine  # noqa: E402

PYAV_DECODE = "import av, sys\nwith av.open(sys.argv[1]) as c:\n    for f in c.decode(video=0): pass\n"
# Time to the first decoded frame, as a command: each prints a line once it holds its first frame. Ours loads what
# `streamapp analyze` loads before it decodes, then takes the first frame of the analysis decode (its 64-px grey
# picture: the numba kernels are set up by then).
PYAV_FIRST = "import av, sys\nwith av.open(sys.argv[1]) as c:\n    next(c.decode(video=0))\n    print(flush=True)\n"
OURS_FIRST = ("import sys\nfrom streamapp.launch import loading\n"
              "with loading():\n    import streamapp.cli\n    import streamapp.stages.analyze\n"
              "from streamapp.media.decode import iter_video_frames\n"
              "next(iter(iter_video_frames(sys.argv[1], 64)))\nprint(flush=True)\n")


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def first_line_s(cmd: list[str], env: dict[str, str]) -> float:
    """Seconds from starting ``cmd`` to the first line it prints."""
    started = time.perf_counter()
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as child:
        assert child.stdout is not None
        child.stdout.readline()
        seconds = time.perf_counter() - started
        child.wait()
    if child.returncode:
        raise SystemExit(f"{cmd[:3]} failed")
    return seconds


def ten_second_clip(source: str, out: str) -> str:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", source, "-t", "10", "-c", "copy", out], check=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("clip", nargs="?")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip = args.clip or ten_second_clip(SOURCE, os.path.join(tmp, "ten.mp4"))
        cache = os.path.join(tmp, "numba")
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        analyze = [sys.executable, "-m", "streamapp", "analyze", clip, "--no-asr"]
        decode = [sys.executable, "-c", PYAV_DECODE, clip]
        first, later, pyav = [], [], []
        for _ in range(args.reps):
            shutil.rmtree(cache, ignore_errors=True)
            first.append(timed(analyze, env))
            pyav.append(timed(decode, env))
        shutil.rmtree(cache, ignore_errors=True)
        warm_s = timed([sys.executable, "-m", "streamapp.warm"], env)
        ours_first, pyav_first = [], []
        for _ in range(args.reps):
            later.append(timed(analyze, env))
            pyav.append(timed(decode, env))
            ours_first.append(first_line_s([sys.executable, "-c", OURS_FIRST, clip], env))
            pyav_first.append(first_line_s([sys.executable, "-c", PYAV_FIRST, clip], env))
    f, lt, d = statistics.median(first), statistics.median(later), statistics.median(pyav)
    of, pf = statistics.median(ours_first), statistics.median(pyav_first)
    print(f"machine: {machine()}")
    print(f"analyze --no-asr, 10 s clip: first run after install (empty cache) {f:.2f} s; "
          f"after `streamapp.warm` ({warm_s:.1f} s, once at install) {lt:.2f} s")
    print(f"PyAV decode-only of the same clip, as a command: {d:.2f} s")
    print(f"first run / later run: {f / lt:.2f}x; later analyze / PyAV decode-only: {lt / d:.2f}x")
    print(f"time to the first decoded frame: ours {of:.2f} s (what analyze loads, then its decoder), PyAV {pf:.2f} s "
          f"({of / pf:.2f}x)")


if __name__ == "__main__":
    main()
