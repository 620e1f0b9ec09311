"""Shared bench helpers: machine description and a 10-minute input made from a real clip."""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import subprocess

SOURCE = "/work/shared/media/files/speech-green-screen.mp4"  # 42 s, 1280x720 30 fps H.264 + AAC speech


def machine() -> str:
    model = platform.processor() or "?"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.SubprocessError, StopIteration):
        pass
    return f"{os.cpu_count()} cores, {model}, {datetime.date.today().isoformat()}"


def ten_minute_input(out: str = "/tmp/bench-10min.mp4", source: str = SOURCE, seconds: int = 600) -> str:
    """Loop a real clip to ``seconds`` with a stream copy (ffmpeg binary; apt-get install -y ffmpeg)."""
    if os.path.exists(out):
        return out
    if not shutil.which("ffmpeg"):
        raise SystemExit("ffmpeg binary needed for the 10-minute input (apt-get install -y ffmpeg)")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", source, "-t", str(seconds), "-c", "copy", out],
        check=True,
    )
    return out
