"""ASR time and words with and without Silero VAD and the hallucination filter (``keep_segment``).

    python bench/asr_filter.py [--threads 2] [--repeat 3] [FILE ...]

Without files it runs the synthetic tracks (music, silence, low noise, music then speech when the shared
speech sample exists) and the shared media under /work/shared/media/files. Offline: HF_HUB_OFFLINE=1.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
import wave
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from streamapp.analysis import transcript  # noqa: E402
from streamapp.analysis.transcript import AsrParams, default_model_dir, transcribe  # noqa: E402

SR = 16000
SHARED = Path("/work/shared/media/files")
SHARED_FILES = ["speech-green-screen.mp4", "chaplin.mp4", "speech/RD_Radio31_000.wav"]


def music(duration_s: float = 60.0, seed: int = 0) -> np.ndarray:
    """120 bpm: a four-chord pad with harmonics, kick on every beat, snare on 2 and 4, off-beat hi-hats."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * SR)
    t = np.arange(n) / SR
    out = np.zeros(n)
    beat = 0.5
    chords = [(220.0, 277.18, 329.63), (196.0, 246.94, 293.66), (174.61, 220.0, 261.63), (196.0, 246.94, 311.13)]
    bar = 4 * beat
    for i in range(int(duration_s / bar) + 1):
        s, e = int(i * bar * SR), min(int((i + 1) * bar * SR), n)
        if s >= n:
            break
        tt = t[s:e] - i * bar
        env = np.minimum(1, tt / 0.05) * np.exp(-tt * 0.6)
        for f in chords[i % 4]:
            for h, a in ((1, 1.0), (2, 0.4), (3, 0.2)):
                out[s:e] += 0.08 * a * env * np.sin(2 * np.pi * f * h * tt)
    for k in range(int(duration_s / beat)):
        s = int(k * beat * SR)
        m = min(int(0.3 * SR), n - s)
        tt = np.arange(m) / SR
        out[s : s + m] += 0.5 * np.exp(-tt * 18) * np.sin(2 * np.pi * (50 + 80 * np.exp(-tt * 30)) * tt)
        if k % 2:
            out[s : s + m] += 0.25 * np.exp(-tt * 25) * rng.standard_normal(m)
        for half in (0.0, 0.5):
            hs = int((k + half) * beat * SR)
            h = min(int(0.05 * SR), n - hs)
            if h > 0:
                out[hs : hs + h] += 0.06 * np.exp(-np.arange(h) / SR * 80) * rng.standard_normal(h)
    return (out / np.abs(out).max() * 0.8).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes())
    return path


def synthetic(folder: Path) -> list[Path]:
    rng = np.random.default_rng(1)
    out = [
        write_wav(folder / "synthetic-music-60s.wav", music(60.0)),
        write_wav(folder / "synthetic-silence-30s.wav", np.zeros(30 * SR, np.float32)),
        write_wav(folder / "synthetic-lownoise-30s.wav", (0.003 * rng.standard_normal(30 * SR)).astype(np.float32)),
    ]
    speech = SHARED / "speech-green-screen.mp4"
    if speech.is_file():
        from faster_whisper import decode_audio

        out.append(write_wav(folder / "music60s-then-green-screen.wav",
                             np.concatenate([music(60.0), decode_audio(str(speech), SR)])))
    return out


class _NoFilter:
    """Patch the filter out (the code before it): every segment and every non-blank word is kept."""

    def __enter__(self):
        self.saved = transcript.keep_segment, transcript._SPOKEN
        transcript.keep_segment = lambda seg, params: True
        transcript._SPOKEN = re.compile(r"\S")

    def __exit__(self, *exc):
        transcript.keep_segment, transcript._SPOKEN = self.saved


def run(path: Path, params: AsrParams, use_filter: bool, repeat: int) -> tuple[float, list[dict]]:
    times, words = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        if use_filter:
            words = transcribe(path, params)
        else:
            with _NoFilter():
                words = transcribe(path, params)
        times.append(time.perf_counter() - t)
    return statistics.median(times), words


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="*")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from faster_whisper import decode_audio

    with tempfile.TemporaryDirectory() as tmp:
        files = [Path(f) for f in args.files] or [
            *synthetic(Path(tmp)), *(SHARED / f for f in SHARED_FILES if (SHARED / f).is_file())]
        base = AsrParams(model_dir=default_model_dir() or "", threads=args.threads)
        transcribe(files[0], base)  # load the model (and the VAD) before timing
        configs = [("vad off, no filter (before)", False, False), ("vad off, filter", False, True),
                   ("vad on, no filter", True, False), ("vad on, filter (default)", True, True)]
        print(f"model {base.model_dir} ({base.compute_type}, beam {base.beam_size}, {args.threads} threads); "
              f"median of {args.repeat} runs")
        print("| file | s | " + " | ".join(c[0] for c in configs) + " |")
        print("|---|---:|" + "---:|" * len(configs))
        texts = {}
        for f in files:
            cells = []
            for name, vad, filt in configs:
                params = AsrParams(model_dir=base.model_dir, threads=args.threads, vad_filter=vad)
                seconds, words = run(f, params, filt, args.repeat)
                cells.append(f"{len(words)} w, {seconds:.2f} s")
                texts[(f.name, name)] = " ".join(w["text"] for w in words)
            print(f"| {f.name} | {decode_audio(str(f), SR).size / SR:.1f} | " + " | ".join(cells) + " |", flush=True)
        print()
        for (f, name), text in texts.items():
            print(f"{f} [{name}]: {text[:300]!r}")


if __name__ == "__main__":
    main()
