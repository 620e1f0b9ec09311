"""Shot detection as the commands a user types: `streamapp shots FILE --json` against PySceneDetect's
`scenedetect -i FILE -b opencv detect-content list-scenes` (its fastest setup in bench/shots.py), side by side.

    python bench/shots_command.py [FILE ...] [--reps 3]

Without files: a 1-minute and a 10-minute 720p file with real hard cuts (iscc-samples' 60 s live-music
session, fetched from PyPI by ../shared/media/fetch-pypi-media, scaled to 1280x720, then looped with a stream
copy). Each rep runs both commands one after the other, alternating which goes first; the figure is the
median of the per-rep ratios (PySceneDetect's time / ours), so load that comes and goes hits both sides.
Needs PySceneDetect: pip install --no-deps scenedetect platformdirs tqdm (it wants opencv-python, which would
shadow opencv-python-headless).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import machine  # noqa: E402

BIN = Path(sys.executable).parent
ISCC = Path.home() / ".cache/streamapp-media/iscc/video/demo.mp4"


def film_inputs() -> list[str]:
    """The 1- and 10-minute 720p files, made once into /tmp."""
    one, ten = "/tmp/film-1min-720p.mp4", "/tmp/film-10min-720p.mp4"
    if not os.path.exists(one):
        if not ISCC.exists():
            fetch = Path(__file__).resolve().parents[2] / "shared/media/fetch-pypi-media"
            subprocess.run([str(fetch)], check=True)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(ISCC), "-vf", "scale=1280:720:flags=bicubic",
                        "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-c:a", "aac", one], check=True)
    if not os.path.exists(ten):
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "9", "-i", one, "-c", "copy", ten], check=True)
    return [one, ten]


def timed(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="*")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    if not shutil.which("scenedetect", path=str(BIN)):
        raise SystemExit("PySceneDetect is not installed in this environment (see the module docstring)")
    print(machine())
    for path in args.files or film_inputs():
        ours_cmd = [str(BIN / "streamapp"), "shots", path, "--json"]
        psd_cmd = [str(BIN / "scenedetect"), "-i", path, "-b", "opencv", "-q", "detect-content", "list-scenes",
                   "-n", "-q"]
        timed(ours_cmd)  # page cache and numba cache warm for both
        ratios, ours_s, psd_s = [], [], []
        for rep in range(args.reps):
            pair = [("ours", ours_cmd), ("psd", psd_cmd)]
            times = dict((name, timed(cmd)) for name, cmd in (pair if rep % 2 == 0 else pair[::-1]))
            ours_s.append(times["ours"])
            psd_s.append(times["psd"])
            ratios.append(times["psd"] / times["ours"])
            print(f"  {Path(path).name} rep {rep + 1}: ours {times['ours']:.2f} s, PySceneDetect {times['psd']:.2f} s, "
                  f"ratio {ratios[-1]:.2f}", flush=True)
        print(f"{Path(path).name}: ours median {statistics.median(ours_s):.2f} s, PySceneDetect "
              f"{statistics.median(psd_s):.2f} s, median ratio **{statistics.median(ratios):.2f}x** "
              f"(min {min(ratios):.2f}, max {max(ratios):.2f})")


if __name__ == "__main__":
    main()
