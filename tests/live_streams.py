"""Live HLS streams written while a test runs: ffmpeg plays a generated video into an EVENT playlist at a chosen
speed (``-readrate``), as OBS or ``ffmpeg -re`` would on a real stream, so segments appear over time."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path


def play_hls(video: str | Path, out_dir: Path, *, segment_s: float = 1.0, speed: float = 4.0,
             fps: int = 25) -> subprocess.Popen:
    """Start writing ``out_dir/live.m3u8`` from ``video``; a keyframe every second so segments are
    ``segment_s`` long. The caller waits for or kills the returned process."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = ["ffmpeg", "-v", "error", "-y", "-readrate", str(speed), "-i", str(video),
           "-c:v", "libx264", "-preset", "ultrafast", "-g", str(fps), "-keyint_min", str(fps),
           "-sc_threshold", "0", "-c:a", "aac", "-f", "hls", "-hls_time", str(segment_s),
           "-hls_playlist_type", "event", "-hls_segment_filename", str(out_dir / "seg%05d.ts"),
           str(out_dir / "live.m3u8")]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for(path: Path, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.05)
