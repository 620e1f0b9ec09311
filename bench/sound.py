"""Clip sound: our loudness/true-peak meters and mastering vs ffmpeg's ebur128, on real sources.

For each source: read a range with ``read_clip_audio`` (what the renderer does), master it under
-1 dBTP to -14 LUFS and to -9 LUFS (loud: the limiter has to work) with ``master_audio``, and measure
input and outputs with our meters and with ``ffmpeg -af ebur128=peak=true`` (on float WAVs of the
very same samples). Times are ms per clip, best of ``--runs``.

    .venv/bin/python -m bench.sound [--runs 3]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import machine
from streamapp.media.audio_master import integrated_lufs, loudness_range, master_audio, true_peak_db
from streamapp.media.clip_audio import read_clip_audio
from tests.media_fixtures import write_float_wav

RATE = 48000
TARGETS = (-14.0, -9.0)  # the platforms' target, and a loud one that makes the limiter work
FILES = "/work/shared/media/files"
# (name, path, start_s, end_s): 30 s of talk; Chaplin's file is only 9.6 s long, so all of it.
CLIPS = [
    ("speech-green-screen", f"{FILES}/speech-green-screen.mp4", 5.0, 35.0),
    ("chaplin", f"{FILES}/chaplin.mp4", 0.0, 9.5),
]


def ebur128(path: Path) -> tuple[float, float, float]:
    proc = subprocess.run(
        ["ffmpeg", "-nostats", "-hide_banner", "-i", str(path), "-af", "ebur128=peak=true", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )
    summary = proc.stderr[proc.stderr.rindex("Summary:"):]
    i, lra, peak = (float(re.search(rf"{k}:\s+(-?[\d.]+|-inf)", summary).group(1)) for k in ("I", "LRA", "Peak"))
    return i, lra, peak


def sync_vs_ffmpeg(path: str, a: float, b: float) -> tuple[int, float]:
    """Lag (samples, by cross-correlation within +-10 ms) and largest difference inside [a, b] between
    ``read_clip_audio`` (seeks, places by media time) and ffmpeg decoding the whole file from its start
    (the sources start at 0 on both streams, so ffmpeg's sample k is media time k / RATE)."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-vn", "-ac", "2", "-ar", str(RATE), "-f", "f32le", "-"],
                         capture_output=True, check=True).stdout
    full = np.frombuffer(raw, dtype="<f4").reshape(-1, 2).T
    t0, samples = read_clip_audio(path, a, b, RATE)
    lo, hi = int(round(a * RATE)), min(int(round(b * RATE)), full.shape[1])
    first = int(round(t0 * RATE))
    mine, ref = samples[:, lo - first : hi - first], full[:, lo:hi]
    w = RATE // 100
    core = slice(w, ref.shape[1] - w)
    lag = max(range(-w, w + 1), key=lambda k: float(np.dot(ref[0, core], mine[0, w + k : ref.shape[1] - w + k])))
    return lag, float(np.abs(ref - mine).max())


def ours(samples: np.ndarray) -> tuple[float, float, float]:
    return integrated_lufs(samples, RATE), loudness_range(samples, RATE), true_peak_db(samples, RATE)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3, help="timed repetitions (the best is reported)")
    args = ap.parse_args()
    if not shutil.which("ffmpeg"):
        raise SystemExit("ffmpeg binary needed (apt-get install -y ffmpeg)")
    print(f"# bench/sound.py  {machine()}")
    # Warm the numba kernels so the timings are steady-state (the first call compiles or loads the cache).
    master_audio(np.random.default_rng(0).standard_normal((2, RATE)).astype(np.float32) * 0.1, RATE)
    with tempfile.TemporaryDirectory() as tmp:
        for name, path, a, b in CLIPS:
            read_ms = []
            for _ in range(args.runs):
                t = time.perf_counter()
                t0, samples = read_clip_audio(path, a, b, RATE)
                read_ms.append(1000 * (time.perf_counter() - t))
            wav_in = Path(tmp) / f"{name}-in.wav"
            write_float_wav(wav_in, samples)
            dur = samples.shape[1] / RATE
            print(f"\n## {name}  range {a:.1f}-{b:.1f} s (t0={t0:.3f} s, {dur:.2f} s of samples)")
            print(f"read_clip_audio {min(read_ms):.0f} ms (best of {args.runs})")
            for sa, sb in ((a, b), (a + 3.0, b)):  # as asked, and a range that makes it seek (Chaplin's starts at 0)
                lag, diff = sync_vs_ffmpeg(path, sa, sb)
                print(f"sync vs ffmpeg's whole-file decode, {sa:.1f}-{sb:.1f} s: lag {lag} samples, "
                      f"max |diff| {diff:.3g}")
            print()
            print("| signal | master ms | gain dB | limiter dB | integrated ours / ffmpeg (LUFS) "
                  "| LRA ours / ffmpeg (LU) | true peak ours / ffmpeg (dBTP) |")
            print("|---|---|---|---|---|---|---|")
            rows = [("input", "", "", "", wav_in, samples)]
            for target in TARGETS:
                master_ms = []
                for _ in range(args.runs):
                    t = time.perf_counter()
                    m = master_audio(samples, RATE, target_lufs=target, max_true_peak_db=-1.0)
                    master_ms.append(1000 * (time.perf_counter() - t))
                wav_out = Path(tmp) / f"{name}-out{target}.wav"
                write_float_wav(wav_out, m.samples)
                rows.append((f"output {target:g} LUFS / -1 dBTP", f"{min(master_ms):.0f}", f"{m.gain_db:+.2f}",
                             f"{m.limiter_db:.2f}", wav_out, m.samples))
            for label, ms, gain, lim, wav, x in rows:
                oi, olra, otp = ours(x)
                fi, flra, ftp = ebur128(wav)
                print(f"| {label} | {ms} | {gain} | {lim} | {oi:.2f} / {fi:.1f} | {olra:.2f} / {flra:.1f} "
                      f"| {otp:.2f} / {ftp:.1f} |")

if __name__ == "__main__":
    main()
