"""Pool optimizer vs fixed pool sizes on a mixed backlog (issue item: within 10% of the best fixed size, better
than the default one).

    python -m bench.optimizer [--rounds 2] [--remote-every K --remote-speed X] [--fixed 1 2 3]
                              [--optimizer LABEL=NAME=VALUE,NAME=VALUE ...] [--results FILE]

Starts its own embedded broker and uses Redis at REDIS_URL (default redis://127.0.0.1:6379/0). The backlog's
videos are made once per invocation with random seeds, and before every run the result-cache keys of exactly
those videos are deleted, so every run analyses every video from scratch. Each run is one ``streamapp worker``
with its own topic prefix, app id, data dir and web port; the whole backlog is submitted at once and the wall
time runs from the first submission to the last job's end. Configurations run interleaved, each round in a
different order, and the table shows medians. ``--optimizer`` adds an optimizer configuration with extra
STREAMAPP_ settings (names without the prefix), e.g. ``--optimizer fast=OPTIMIZER_HYSTERESIS=1,OPTIMIZER_COOLDOWN_S=3``.

``--remote-every K`` submits every K-th video (the first, the K+1-th, ...) as an http URL instead of a path,
served from a local origin that delivers each file at ``--remote-speed`` times its play rate (4: a 60 s video
arrives in 15 s, as a video of 8 Mbit/s does over a 32 Mbit/s link), so part of the backlog waits on the
network, not the CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import http.server
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import redis
from aiokafka import AIOKafkaConsumer

from bench.common import machine
from streamapp.client import Follower, JobOutcome, Submitter, submission
from streamapp.settings import Settings
from streamapp.transport.embedded import EmbeddedBroker, free_port, wait_for_port
from streamapp.transport.topics import Topics
from tests.videos import make_test_video

# The mixed backlog: (duration s, width, height, priority, max_clips).
BACKLOG = [
    (90.0, 854, 480, "low", 3),
    (20.0, 320, 180, "high", 1),
    (60.0, 640, 360, "normal", 3),
    (30.0, 480, 270, "low", 1),
    (45.0, 854, 480, "normal", 1),
    (25.0, 320, 180, "high", 3),
    (75.0, 480, 270, "low", 1),
    (40.0, 640, 360, "normal", 3),
]
CLIP_OPTIONS = {"min_duration_s": 5.0, "max_duration_s": 10.0}
MIN_SIZE = 1  # the optimizer's lower bound; the upper one is --max-size
FIXED = (1, 2, 3)
SETTLE_S = 6.0  # after the web port opens: the consumer group forms and the pool warms


@dataclass
class Video:
    path: Path
    duration_s: float
    size: tuple[int, int]
    priority: str
    max_clips: int
    sha256: str
    url: str | None = None  # set when the backlog submits it as a remote input


@dataclass
class Run:
    config: str
    round: int
    wall_s: float
    done: int
    failed: int
    video_s: float
    submitted_at: float = 0.0
    decisions: list[dict[str, Any]] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # the worker's own cpu_percent samples during the run

    def cpu_summary(self) -> str:
        if not self.cpu:
            return "no samples"
        high = sum(c >= 90.0 for c in self.cpu) / len(self.cpu)
        return f"CPU median {statistics.median(self.cpu):.0f}%, {100 * high:.0f}% of {len(self.cpu)} samples >= 90%"

    @property
    def jobs_per_min(self) -> float:
        return 60.0 * self.done / self.wall_s

    @property
    def video_s_per_s(self) -> float:
        return self.video_s / self.wall_s


def make_backlog(folder: Path, count: int) -> list[Video]:
    videos = []
    for index, (duration, w, h, priority, clips) in enumerate((BACKLOG * 2)[:count]):
        path = folder / f"mixed{index}.mp4"
        seed = random.randrange(1 << 30)
        cuts = tuple(float(t) for t in range(8, int(duration) - 4, 11))
        burst = (duration * 0.55, duration * 0.55 + 4.0)
        make_test_video(path, duration_s=duration, size=(w, h), cuts_s=cuts, silences=((duration * 0.3,
                        duration * 0.3 + 1.0),), burst=burst, seed=seed, tone_hz=180.0 + 40 * index)
        videos.append(Video(path, duration, (w, h), priority, clips, hashlib.sha256(path.read_bytes()).hexdigest()))
    return videos


def flush_cache(redis_url: str, videos: list[Video]) -> int:
    """Delete the result-cache keys of these videos only (keys are streamapp:<kind>:<sha256>:<params>)."""
    client = redis.Redis.from_url(redis_url)
    keys = [key for video in videos for key in client.scan_iter(f"streamapp:*:{video.sha256}:*", count=1000)]
    return client.delete(*keys) if keys else 0


class Origin:
    """A local http origin that sends each video at ``speed`` times its play rate (a remote store's link)."""

    def __init__(self, videos: list[Video], speed: float) -> None:
        files = {f"/{v.path.name}": v for v in videos}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                video = files.get(self.path)
                if video is None:
                    self.send_error(404)
                    return
                body = video.path.read_bytes()
                rate = len(body) * speed / video.duration_s  # bytes per second
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                started, chunk = time.monotonic(), 64 * 1024
                for offset in range(0, len(body), chunk):
                    self.wfile.write(body[offset:offset + chunk])
                    ahead = (offset + chunk) / rate - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()


def configurations(default_size: int, extra: list[str], fixed: tuple[int, ...] = FIXED,
                   bounds: tuple[int, int] = (MIN_SIZE, 3)) -> dict[str, dict[str, str]]:
    configs = {f"fixed {n}": {"OPTIMIZER_ENABLED": "false", "POOL_SIZE": str(n),
                              "POOL_MAX_SIZE": str(max(n, bounds[1]))} for n in fixed}
    optimizer = {"OPTIMIZER_ENABLED": "true", "POOL_SIZE": str(default_size), "POOL_MIN_SIZE": str(bounds[0]),
                 "POOL_MAX_SIZE": str(bounds[1]), "METRICS_INTERVAL_S": "1"}
    configs["optimizer"] = dict(optimizer)
    for spec in extra:
        label, _, pairs = spec.partition("=")
        overrides = dict(pair.split("=", 1) for pair in pairs.split(",") if pair)
        configs[f"optimizer {label}"] = {**optimizer, **{k.upper().removeprefix("STREAMAPP_"): v
                                                         for k, v in overrides.items()}}
    return configs


async def read_ops(bootstrap: str, topic: str, timeout_s: float = 3.0) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                found += [orjson.loads(m.value) for m in messages]
    finally:
        await consumer.stop()
    return found


async def submit_and_follow(bootstrap: str, topics: Topics, jobs: list[dict[str, Any]],
                            timeout_s: float) -> tuple[float, float, dict[str, JobOutcome]]:
    outcomes = {job["job_id"]: JobOutcome(job["job_id"]) for job in jobs}
    async with Follower(bootstrap, topics) as follower, Submitter(bootstrap, topics) as submitter:
        started, submitted_at = time.monotonic(), time.time()
        for job in jobs:
            await submitter.submit(job)
        await asyncio.wait_for(follower.follow(outcomes), timeout_s)
        return time.monotonic() - started, submitted_at, outcomes


def run_once(config: str, overrides: dict[str, str], round_no: int, videos: list[Video], broker: str,
             redis_url: str, work: Path, timeout_s: float, common: dict[str, str]) -> Run:
    flush_cache(redis_url, videos)
    name = uuid.uuid4().hex[:8]
    prefix, app_id = f"bopt{name}", f"streamapp-bopt{name}"
    data_dir, out_dir = work / name / "data", work / name / "out"
    out_dir.mkdir(parents=True)
    data_dir.mkdir(parents=True)
    web_port = free_port()
    env = {**os.environ, "STREAMAPP_BROKER": broker, "STREAMAPP_REDIS_URL": redis_url,
           "STREAMAPP_DATA_DIR": str(data_dir), "STREAMAPP_TOPIC_PREFIX": prefix, "STREAMAPP_APP_ID": app_id,
           "STREAMAPP_WEB_PORT": str(web_port),
           **{f"STREAMAPP_{k}": v for k, v in {**common, **overrides}.items()}}
    log_path = work / f"{config.replace(' ', '_')}-r{round_no}-{name}.log"
    bootstrap = broker.removeprefix("kafka://")
    topics = Topics(prefix, app_id)
    with open(log_path, "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "streamapp", "worker"], env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        if not wait_for_port("127.0.0.1", web_port, 90):
            raise SystemExit(f"{config}: worker did not start; see {log_path}")
        time.sleep(SETTLE_S)
        jobs = [submission(v.url or v.path, out_dir, priority=v.priority,
                           options={**CLIP_OPTIONS, "max_clips": v.max_clips}) for v in videos]
        wall, submitted_at, outcomes = asyncio.run(submit_and_follow(bootstrap, topics, jobs, timeout_s))
        decisions = [e for e in asyncio.run(read_ops(bootstrap, topics.ops)) if e.get("type") == "pool_decision"]
        cpu = [float(e["cpu_percent"]) for e in asyncio.run(read_ops(bootstrap, topics.metrics))
               if e.get("type") == "metrics_sample" and submitted_at <= e["at"] <= submitted_at + wall]
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(work / name, ignore_errors=True)
    by_id = {job["job_id"]: video for job, video in zip(jobs, videos, strict=True)}
    done = [job_id for job_id, o in outcomes.items() if o.state == "done"]
    failed = [f"{job_id}: {o.error}" for job_id, o in outcomes.items() if o.state != "done"]
    for line in failed:
        print(f"  FAILED {line}", file=sys.stderr)
    return Run(config, round_no, wall, len(done), len(failed), sum(by_id[j].duration_s for j in done),
               submitted_at, decisions, cpu)


def describe(decisions: list[dict[str, Any]], start: float) -> str:
    if not decisions:
        return "none"
    return "; ".join(f"+{d['at'] - start:.0f}s {d['pool_size_from']}->{d['pool_size_to']} {d['rule']}"
                     for d in decisions)


def table(runs: list[Run], default_size: int) -> str:
    configs = list(dict.fromkeys(r.config for r in runs))
    med = {c: statistics.median(r.wall_s for r in runs if r.config == c) for c in configs}
    rows = ["| configuration | runs | wall s (median) | wall s (each) | jobs/min | video-s per wall-s | failed |",
            "|---|---|---|---|---|---|---|"]
    for c in configs:
        mine = [r for r in runs if r.config == c]
        rows.append(f"| {c} | {len(mine)} | {med[c]:.1f} | {', '.join(f'{r.wall_s:.1f}' for r in mine)} | "
                    f"{statistics.median(r.jobs_per_min for r in mine):.2f} | "
                    f"{statistics.median(r.video_s_per_s for r in mine):.2f} | {sum(r.failed for r in mine)} |")
    fixed = {c: med[c] for c in configs if c.startswith("fixed")}
    if fixed:
        best = min(fixed, key=fixed.__getitem__)
        default = f"fixed {default_size}"
        rows += ["", f"Best fixed: **{best}** ({fixed[best]:.1f} s). Default fixed: {default} (Settings().pool_size).",
                 "", "| optimizer configuration | throughput / best fixed | throughput / default fixed | "
                 "within 10% of best | better than default |", "|---|---|---|---|---|"]
        for c in configs:
            if not c.startswith("optimizer"):
                continue
            vs_best = fixed[best] / med[c]  # throughput ratio = inverse wall-time ratio (same backlog)
            vs_default = fixed[default] / med[c] if default in fixed else float("nan")
            rows.append(f"| {c} | {vs_best:.3f} | {vs_default:.3f} | {'yes' if vs_best >= 0.9 else 'NO'} | "
                        f"{'yes' if vs_default > 1.0 else 'NO'} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=len(BACKLOG))
    parser.add_argument("--only", nargs="*", help="run only these configurations (labels as in the table)")
    parser.add_argument("--optimizer", action="append", default=[], metavar="LABEL=NAME=VALUE,...",
                        help="an extra optimizer configuration with these STREAMAPP_ overrides")
    parser.add_argument("--fixed", type=int, nargs="+", default=list(FIXED), help="fixed pool sizes to run")
    parser.add_argument("--max-size", type=int, default=Settings().pool_max_size,
                        help="the optimizer's STREAMAPP_POOL_MAX_SIZE (default: the setting's default)")
    parser.add_argument("--remote-every", type=int, default=0, metavar="K",
                        help="submit every K-th video as a URL on a local origin (0: none)")
    parser.add_argument("--remote-speed", type=float, default=4.0, metavar="X",
                        help="the origin sends each video at X times its play rate")
    parser.add_argument("--output-long-side", default="640", help="STREAMAPP_OUTPUT_LONG_SIDE for every run")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds a run may take")
    parser.add_argument("--results", type=Path, help="also append the table to this markdown file")
    args = parser.parse_args()

    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
    default_size = Settings().pool_size
    configs = configurations(default_size, args.optimizer, tuple(args.fixed), (MIN_SIZE, args.max_size))
    if args.only:
        configs = {k: v for k, v in configs.items() if k in args.only}
    common = {"OUTPUT_LONG_SIDE": args.output_long_side}
    work = Path(tempfile.mkdtemp(prefix="bench-optimizer-"))
    print(f"# bench.optimizer — {machine()}; work dir {work}", flush=True)
    videos = make_backlog(work, args.jobs)
    total = sum(v.duration_s for v in videos)
    origin = None
    if args.remote_every > 0:
        origin = Origin(videos, args.remote_speed)
        for video in videos[::args.remote_every]:
            video.url = f"{origin.base}/{video.path.name}"
        common.update({"ALLOW_URLS": "true", "URL_TRUSTED_HOSTS": '["127.0.0.1"]'})
    print(f"backlog: {len(videos)} jobs, {total:.0f} video-s: " + ", ".join(
        f"{v.duration_s:.0f}s {v.size[0]}x{v.size[1]} {v.priority} clips={v.max_clips}{' remote' if v.url else ''}"
        for v in videos), flush=True)
    runs: list[Run] = []
    with EmbeddedBroker(log_path=work / "broker.log") as broker:
        labels = list(configs)
        for round_no in range(args.rounds):
            order = labels if round_no % 2 == 0 else labels[::-1]
            if round_no >= 2:
                order = random.sample(labels, len(labels))
            for label in order:
                run = run_once(label, configs[label], round_no + 1, videos, broker.url, redis_url, work,
                               args.timeout, common)
                runs.append(run)
                print(f"round {run.round} {label:<24} wall {run.wall_s:6.1f} s  {run.jobs_per_min:5.2f} jobs/min  "
                      f"{run.video_s_per_s:5.2f} video-s/s  failed {run.failed}  decisions: "
                      f"{describe(run.decisions, run.submitted_at)}; {run.cpu_summary()}", flush=True)
    text = table(runs, default_size)
    decisions = "\n".join(f"- round {r.round} {r.config}: {describe(r.decisions, r.submitted_at)} "
                          f"({r.cpu_summary()})" for r in runs if r.config.startswith("optimizer"))
    overrides = "\n".join(f"- {label}: " + ", ".join(f"STREAMAPP_{k}={v}" for k, v in env.items())
                          for label, env in configs.items())
    report = (f"{text}\n\nOptimizer decisions (seconds after the backlog was submitted):\n\n{decisions}\n\n"
              f"Settings:\n\n{overrides}\n")
    print("\n" + report)
    if args.results:
        with args.results.open("a") as fh:
            fh.write(f"\n### {' '.join(sys.argv[1:]) or 'default run'} ({machine()})\n\n{report}")
    if origin is not None:
        origin.close()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
