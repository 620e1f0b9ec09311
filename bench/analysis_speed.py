"""Whole analysis without ASR vs PyAV decode-only, frames/s on the same 10-minute file.

    python -m bench.analysis_speed [--input FILE] [--runs 5]

The machine is shared and noisy, so decode-only and analysis alternate ``--runs`` times, side by side,
and the median of the per-pair ratios is reported (target >= 0.8), plus extract's own timings.
"""

from __future__ import annotations

import argparse
import statistics
import time

import av

from bench.common import machine, ten_minute_input
from streamapp.stages.extract import AnalysisParams, extract


def decode_only(path: str) -> tuple[int, float]:
    """Every video frame decoded with PyAV defaults plus frame threading; nothing else."""
    t = time.perf_counter()
    n = 0
    with av.open(path) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for _ in c.decode(s):
            n += 1
    return n, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", default=None)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    path = args.input or ten_minute_input()
    extract(path, AnalysisParams(), asr=None)  # warm: numba cache, cascade load, page cache
    print(machine())
    ratios, dec_rates, an_rates = [], [], []
    for i in range(args.runs):
        n_dec, t_dec = decode_only(path)
        t = time.perf_counter()
        sig = extract(path, AnalysisParams(), asr=None)
        t_an = time.perf_counter() - t
        n_an = len(sig.frame_times_s)
        dec, an = n_dec / t_dec, n_an / t_an
        dec_rates.append(dec)
        an_rates.append(an)
        ratios.append(an / dec)
        timings = {k: round(v, 2) for k, v in sig.timings_s.items()}
        print(f"run {i + 1}: decode only {dec:6.0f} frames/s ({t_dec:.1f} s), analysis {an:6.0f} frames/s "
              f"({t_an:.1f} s, {n_an} frames) ratio {an / dec:.2f}  timings {timings}", flush=True)
    print(f"input {path}: {sig.duration_s:.0f} s, {n_an} frames, {args.runs} runs")
    print(f"median decode only: {statistics.median(dec_rates):6.0f} frames/s")
    print(f"median analysis   : {statistics.median(an_rates):6.0f} frames/s")
    print(f"median ratio analysis/decode-only: {statistics.median(ratios):.2f} "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f})")


if __name__ == "__main__":
    main()
