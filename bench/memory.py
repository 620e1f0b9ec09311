"""Memory over hours: peak RSS of one worker turning a long 1080p video into clips.

    python bench/memory.py [--input FILE] [--hours 2] [--max-clips 5] [--budget MIB]

Without ``--input`` it joins real footage into a long 1080p file: ../shared/media/files/speech-green-screen.mp4
(a 720p talk) is scaled to 1920x1080 once, then looped with ``-c copy`` to ``--hours``. It then runs the command
a creator runs, ``streamapp process FILE`` (embedded broker, one local worker), and samples every second the
resident memory of each process under it: the worker's main process, its pool processes, and the broker.
Printed: the peak of each, the peak of the worker's whole tree (main + pool), the worker tree's median
RSS in the first and the last quarter of the run, and the same within the analysis alone (before the first clip
file appears in the output folder): growth over hours of input shows as a rise between its two quarters, while
the run's last quarter also holds the renders, which need more than the analysis.
The tree's RSS counts the pages its processes share (the libraries' code: numpy, OpenCV, FFmpeg, CTranslate2)
once per process; its PSS (proportional set size: each shared page split between the processes mapping it)
is what the tree takes from the machine, and is printed beside it. ``--budget`` runs the worker with
``STREAMAPP_MEMORY_BUDGET_MB`` (the pool holds only the processes that fit at their measured peaks).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine  # noqa: E402

SOURCE = Path(__file__).resolve().parents[2] / "shared" / "media" / "files" / "speech-green-screen.mp4"
MIB = 1024 * 1024


def long_input(folder: Path, hours: float) -> Path:
    once = folder / "talk-1080.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(SOURCE), "-vf", "scale=1920:1080", "-c:v", "libx264",
                    "-preset", "veryfast", "-crf", "23", "-g", "60", "-c:a", "aac", "-b:a", "128k", str(once)],
                   check=True)
    out = folder / f"talk-1080-{hours:g}h.mp4"
    loops = int(hours * 3600 / 40) + 1
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops), "-i", str(once), "-c", "copy",
                    "-t", str(hours * 3600), str(out)], check=True)
    return out


def unseen_copy(video: Path, folder: Path) -> Path:
    """The same streams with a unique comment: a new content hash, so the result cache (Redis) holds nothing for
    it and the run extracts for real."""
    out = folder / f"unseen-{video.name}"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(video), "-map", "0", "-c", "copy", "-metadata",
                    f"comment=memory bench {time.time_ns()}", str(out)], check=True)
    return out


class Sampler(threading.Thread):
    """RSS of every process under ``root``, once a second, by role."""

    def __init__(self, root: psutil.Process, out_dir: Path) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.out_dir = out_dir
        self.exporting_from: float | None = None  # run time of the first clip file in the output folder
        self.samples: list[tuple[float, dict[str, int]]] = []  # (t, role -> bytes)
        self.peaks: dict[str, int] = {}
        self.stop = threading.Event()

    @staticmethod
    def role(proc: psutil.Process) -> str:
        try:
            cmd = " ".join(proc.cmdline())
        except psutil.Error:
            return "other"
        if "tansu" in cmd or "broker" in cmd.split()[:2]:
            return "broker"
        if "streamapp worker" in cmd:
            return "worker"
        if "multiprocessing" in cmd or "spawn_main" in cmd or "forkserver" in cmd:
            return "pool"
        return "other"

    def run(self) -> None:
        started = time.monotonic()
        while not self.stop.is_set():
            roles: dict[str, int] = {}
            try:
                procs = self.root.children(recursive=True)
            except psutil.Error:
                break
            for proc in procs:
                try:
                    info = proc.memory_full_info()  # rss and pss (reads /proc/PID/smaps_rollup)
                except psutil.Error:
                    continue
                role = self.role(proc)
                roles[role] = roles.get(role, 0) + info.rss
                roles[f"{role} PSS"] = roles.get(f"{role} PSS", 0) + info.pss
                self.peaks[f"{role} (one process)"] = max(self.peaks.get(f"{role} (one process)", 0), info.rss)
            roles["worker tree"] = roles.get("worker", 0) + roles.get("pool", 0)
            roles["worker tree PSS"] = roles.get("worker PSS", 0) + roles.get("pool PSS", 0)
            for role, rss in roles.items():
                self.peaks[role] = max(self.peaks.get(role, 0), rss)
            now = time.monotonic() - started
            if self.exporting_from is None and self.out_dir.exists() and any(self.out_dir.rglob("*.mp4*")):
                self.exporting_from = now
            self.samples.append((now, roles))
            self.stop.wait(1.0)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", type=Path)
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--max-clips", type=int, default=5)
    ap.add_argument("--budget", type=int, default=0, help="STREAMAPP_MEMORY_BUDGET_MB for the worker (0: none)")
    args = ap.parse_args()
    env = {**os.environ, "STREAMAPP_MEMORY_BUDGET_MB": str(args.budget)}
    with tempfile.TemporaryDirectory(prefix="streamapp-memory-") as tmp:
        video = unseen_copy(args.input, Path(tmp)) if args.input else long_input(Path(tmp), args.hours)
        command = [sys.executable, "-m", "streamapp", "process", str(video), "--out", str(Path(tmp) / "out"),
                   "--max-clips", str(args.max_clips)]
        started = time.monotonic()
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        sampler = Sampler(psutil.Process(proc.pid), Path(tmp) / "out")
        sampler.start()
        _, err = proc.communicate()
        sampler.stop.set()
        sampler.join()
        wall = time.monotonic() - started
    tree = [roles.get("worker tree", 0) for _, roles in sampler.samples if roles.get("worker tree")]
    tree_pss = [roles.get("worker tree PSS", 0) for _, roles in sampler.samples if roles.get("worker tree")]
    quarter = max(1, len(tree) // 4)
    print(machine())
    budget = f"STREAMAPP_MEMORY_BUDGET_MB={args.budget} " if args.budget else ""
    print(f"input: {video.name}; command: {budget}streamapp process --max-clips {args.max_clips}; "
          f"exit {proc.returncode}; wall {wall:.0f} s")
    if proc.returncode != 0:
        print(err.decode(errors="replace")[-2000:])
    for name, peak in sorted(sampler.peaks.items()):
        print(f"peak RSS {name}: {peak / MIB:.0f} MiB")
    if tree:
        print(f"worker tree median RSS, first quarter {statistics.median(tree[:quarter]) / MIB:.0f} MiB, "
              f"last quarter {statistics.median(tree[-quarter:]) / MIB:.0f} MiB ({len(tree)} samples)")
        print(f"worker tree median PSS, first quarter {statistics.median(tree_pss[:quarter]) / MIB:.0f} MiB, "
              f"last quarter {statistics.median(tree_pss[-quarter:]) / MIB:.0f} MiB")
        analysis = [roles["worker tree"] for t, roles in sampler.samples if roles.get("worker tree")
                    and (sampler.exporting_from is None or t < sampler.exporting_from)]
        if len(analysis) >= 8:
            part = len(analysis) // 4
            print(f"analysis alone ({len(analysis)} s, before the first clip file): median RSS first quarter "
                  f"{statistics.median(analysis[:part]) / MIB:.0f} MiB, last quarter "
                  f"{statistics.median(analysis[-part:]) / MIB:.0f} MiB, peak {max(analysis) / MIB:.0f} MiB")
        timeline = [(t, roles) for t, roles in sampler.samples if roles.get("worker tree")]
        t_peak, at_peak = max(timeline, key=lambda item: item[1]["worker tree PSS"])
        print(f"at the tree's PSS peak ({t_peak:.0f} s into the run): "
              + ", ".join(f"{k} {v / MIB:.0f} MiB" for k, v in sorted(at_peak.items())))
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
