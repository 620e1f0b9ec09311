"""Compile every numba kernel once, into the user's cache, so the first real run is as fast as the tenth.

Run by scripts/run.sh and scripts/test.sh right after installing: ``python -m streamapp.warm``. It runs
the real analysis and audio mastering on a two-second generated video, so the kernels are compiled for
exactly the argument types a job passes them (a call with other dtypes would compile again later).
"""

from __future__ import annotations

import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

_RATE = 48000


def _write_sample(path: Path, seconds: float = 2.0, fps: int = 25) -> None:
    """A small h264 + AAC file with a cut halfway and a tone, like the footage the kernels see."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 160, 96, "yuv420p"
        audio = out.add_stream("aac", rate=_RATE)
        audio.layout = "stereo"
        for i in range(int(seconds * fps)):
            level = 40 if i < seconds * fps / 2 else 200
            frame = av.VideoFrame.from_ndarray(np.full((96, 160, 3), level, np.uint8), format="rgb24")
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        t = np.arange(int(seconds * _RATE)) / _RATE
        tone = (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
        for start in range(0, tone.size, 1024):
            block = np.ascontiguousarray(np.stack([tone[start:start + 1024]] * 2))
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts, frame.time_base = _RATE, start, Fraction(1, _RATE)
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))


def warm() -> float:
    """Compile (or load) every kernel; returns the seconds it took."""
    from streamapp.media.audio_master import master_audio
    from streamapp.settings import Settings
    from streamapp.stages.analyze import analyze_video

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="streamapp-warm-") as tmp:
        path = Path(tmp) / "warm.mp4"
        _write_sample(path)
        analyze_video(str(path), Settings(), use_asr=False)
    t = np.arange(_RATE) / _RATE
    master_audio(np.stack([np.sin(2 * np.pi * 440 * t)] * 2).astype(np.float32), _RATE)
    return time.monotonic() - started


if __name__ == "__main__":
    import os

    took = warm()
    print(f"streamapp kernels ready in {os.environ['NUMBA_CACHE_DIR']} ({took:.1f} s)")
