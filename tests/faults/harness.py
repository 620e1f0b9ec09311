"""Fault-injection harness: real workers, a private broker and a private Redis, and faults on a schedule.

The promise under test: a submitted video ends as clips or as a clear failure, whatever happens to a
worker, the broker or Redis. The harness

- generates N test videos with distinct random seeds (so the result cache can never make a stage
  instant) plus a few bad inputs (a text file named ``.mp4``, which must fail with ``input_not_video``);
- starts its OWN embedded broker (Tansu) and its OWN ``redis-server`` on free ports, so pausing or
  stopping them disturbs no other test;
- starts one or more ``streamapp worker`` processes (``tests.conftest.WorkerProcess``) with short
  consumer-group timings, as ``stack_env`` does;
- submits every job (a mix of priorities), follows every event with a ``Follower``, and injects faults
  one after another: SIGKILL of a worker when a job is seen entering extracting / scoring / exporting
  (after a random offset; a new worker is started after each kill), broker pauses (SIGSTOP, a few
  seconds, SIGCONT) and Redis outages (terminate, restart later on the same port);
- then checks every job's outputs on disk and returns the figures (``Figures``).

Used by tests/faults/test_fault_injection.py (bounded, CI) and bench/faults.py (larger numbers).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import orjson
import psutil
from aiokafka import AIOKafkaConsumer

from streamapp.client import Follower, JobOutcome, Submitter, apply_event, submission, topic_partitions
from streamapp.manifest import manifest_files
from streamapp.transport.embedded import EmbeddedBroker, free_port, wait_for_port
from streamapp.transport.topics import Topics, job_partition
from tests.conftest import WorkerProcess
from tests.videos import make_test_video

OPTIONS = {"max_clips": 2, "min_duration_s": 5.0, "max_duration_s": 10.0}
# The order kills cycle through. Other states: "ended", right after a job's result is published, at the worker
# that holds the job (the window where a new owner may not know yet that the job is over); "started", the
# newest worker 0.3-3 s after its start (its pool processes are still spawning and importing).
KILL_STATES = ("extracting", "exporting", "scoring")
BAD_INPUT_CODE = "input_not_video"


@dataclass
class FaultPlan:
    """What to run and which faults to inject. Times are seconds."""

    jobs: int = 4  # good videos
    bad_inputs: int = 1  # text files named .mp4
    kills: int = 2
    pauses: int = 1
    redis_restarts: int = 1
    workers: int = 1  # worker processes at the start (a killed one is replaced while replace_killed)
    replace_killed: bool = True  # False: a killed worker is gone for good (workers leaving the group)
    spread_jobs: bool = False  # job ids chosen so that the jobs fall on every job-status partition in turn
    first_fault_after_s: float = 0.0  # from the first submission, before any fault
    faults_once_all_worked: bool = False  # and, before any fault, until every worker has finished an extract
    pool_size: int = 2
    # Good videos (of ``jobs``) held back until the last fault is about to be armed, or the rest has ended: a run
    # whose work ends before its last fault proves less (a fresh-clone run's bounded case ended all five jobs
    # before its Redis restart was due), and the last fault then still finds work.
    held_back_jobs: int = 1
    seed: int | None = None  # None: a fresh random seed (printed in the figures)
    deadline_s: float = 150.0  # from the first submission; a job unfinished by then is lost
    video_s: float = 30.0
    video_size: tuple[int, int] = (320, 180)
    kill_states: tuple[str, ...] = KILL_STATES
    # Random offset after a job is seen entering the state before the SIGKILL lands.
    kill_offsets_s: dict[str, tuple[float, float]] = field(default_factory=lambda: {
        "extracting": (0.3, 2.0), "scoring": (0.0, 0.2), "exporting": (0.1, 1.2), "ended": (0.0, 0.3),
        "started": (0.3, 3.0)})
    kill_children: bool = False  # also SIGKILL the worker's pool processes (a whole container dying)
    restart_delay_s: tuple[float, float] = (0.5, 2.0)
    pause_s: tuple[float, float] = (3.0, 5.0)
    redis_down_s: tuple[float, float] = (3.0, 6.0)
    fault_gap_s: tuple[float, float] = (0.5, 2.0)  # between the end of one fault and the arming of the next
    grace_s: float = 3.0  # keep listening after the last job ends, for late duplicate results
    options: dict[str, Any] = field(default_factory=lambda: dict(OPTIONS))


@dataclass
class Figures:
    seed: int
    jobs: int
    bad_inputs: int
    workers: int
    kills: int = 0
    kill_stages: list[str] = field(default_factory=list)  # the job state that armed each kill
    broker_pauses: int = 0
    redis_restarts: int = 0
    done: int = 0
    failed: int = 0
    failed_expected: int = 0  # bad inputs that failed with input_not_video
    wrong: list[str] = field(default_factory=list)  # good job failed, bad input done or failed otherwise
    lost: list[str] = field(default_factory=list)  # never finished before the deadline
    duplicated: list[str] = field(default_factory=list)  # extra/partial files, conflicting results
    corrupt: list[str] = field(default_factory=list)  # a manifest clip that is missing or will not decode
    repeated: list[str] = field(default_factory=list)  # jobs whose result (job_done/job_failed) was published >1x
    extra_results: int = 0  # result events beyond the first, over all jobs
    orphans: int = 0  # processes of SIGKILLed workers (pool, resource tracker) still alive at the end of the run
    orphan_commands: list[str] = field(default_factory=list)
    after_end: list[str] = field(default_factory=list)  # non-terminal job-status events logged after the job's end
    wrong_status: list[str] = field(default_factory=list)  # a live worker's API answering other than the job's end
    wall_s: float = 0.0
    faults: list[str] = field(default_factory=list)  # what was injected, when (s from first submission)
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    log_dir: str = ""
    extracts_by_worker: dict[str, int] = field(default_factory=dict)  # extract runs each worker finished

    @property
    def ok(self) -> bool:
        return not (self.wrong or self.lost or self.duplicated or self.corrupt or self.after_end
                    or self.wrong_status or self.orphans)

    @staticmethod
    def header() -> str:
        return ("| seed | jobs (bad) | workers | kills (stages) | broker pauses | redis restarts | done "
                "| failed (right reason) | lost | duplicated | wrong | corrupt | repeated results | orphans "
                "| events after the end | wrong statuses | wall s |\n"
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")

    def row(self) -> str:
        stages = ",".join(s[:4] for s in self.kill_stages)
        return (f"| {self.seed} | {self.jobs + self.bad_inputs} ({self.bad_inputs}) | {self.workers} | "
                f"{self.kills} ({stages}) | {self.broker_pauses} | {self.redis_restarts} | {self.done} | "
                f"{self.failed} ({self.failed_expected}) | {len(self.lost)} | {len(self.duplicated)} | "
                f"{len(self.wrong)} | {len(self.corrupt)} | {self.extra_results} | {self.orphans} | "
                f"{len(self.after_end)} | {len(self.wrong_status)} | {self.wall_s:.0f} |")

    def report(self) -> str:
        lines = [self.header(), self.row(), "faults:", *(f"  {f}" for f in self.faults)]
        for name in ("wrong", "lost", "duplicated", "corrupt", "repeated", "after_end", "wrong_status"):
            for item in getattr(self, name):
                lines.append(f"{name}: {item}")
        lines += [f"orphan: {command}" for command in self.orphan_commands]
        lines.append(f"logs: {self.log_dir}")
        return "\n".join(lines)


class RedisServer:
    """A private redis-server on a fixed port: stop() and start() again reuse the port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_for_port("127.0.0.1", self.port, 10):
            raise RuntimeError(f"redis-server did not open port {self.port}")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def make_inputs(folder: Path, plan: FaultPlan, rng: random.Random) -> tuple[list[Path], list[Path]]:
    """Good videos with distinct seeds (distinct content hashes) and bad inputs named .mp4."""
    folder.mkdir(parents=True, exist_ok=True)
    good = []
    d = plan.video_s
    for index, seed in enumerate(rng.sample(range(1, 1 << 30), plan.jobs)):
        path = folder / f"video{index:02d}-{seed}.mp4"
        make_test_video(path, duration_s=d, size=plan.video_size, cuts_s=(0.2 * d, 0.5 * d, 0.75 * d),
                        silences=((0.3 * d, 0.3 * d + 1.0),), burst=(0.55 * d, 0.55 * d + 4.0), seed=seed,
                        tone_hz=rng.choice((180.0, 220.0, 330.0)))
        good.append(path)
    bad = []
    for index in range(plan.bad_inputs):
        path = folder / f"not-a-video{index:02d}.mp4"
        path.write_text("this is a text file with a video's name\n" * 50)
        bad.append(path)
    return good, bad


def _comparable(manifest: dict[str, Any] | None) -> bytes:
    """A manifest less its timings (which differ on every run of a stage), for comparing results."""
    if manifest is None:
        return b"null"
    return orjson.dumps({k: v for k, v in manifest.items() if k != "timings_s"}, option=orjson.OPT_SORT_KEYS)


def _decodes(path: Path) -> bool:
    try:
        with av.open(str(path)) as container:
            return any(True for _ in container.decode(video=0))
    except Exception:  # noqa: BLE001 - any failure to read it back is a broken clip
        return False


class FaultHarness:
    """One run: start everything, submit, inject faults, check outputs, tear down. See the module doc."""

    def __init__(self, plan: FaultPlan, workdir: Path | None = None) -> None:
        self.plan = plan
        self.seed = plan.seed if plan.seed is not None else random.SystemRandom().randrange(1, 1 << 31)
        self.rng = random.Random(self.seed)
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="streamapp-faults-"))
        self.logs = self.workdir / "logs"
        self.out_dir = self.workdir / "out"
        self.data_dir = self.workdir / "data"
        for folder in (self.logs, self.out_dir, self.data_dir):
            folder.mkdir(parents=True, exist_ok=True)
        name = uuid.uuid4().hex[:8]
        self.topics = Topics(f"f{name}", f"streamapp-f{name}")
        self.broker: EmbeddedBroker | None = None
        self.redis = RedisServer()
        self.workers: list[WorkerProcess] = []  # the live ones
        self.every_worker: list[WorkerProcess] = []
        self.started_at: dict[WorkerProcess, float] = {}
        self.pool: dict[int, psutil.Process] = {}  # pool processes seen under our workers (for orphan checks)
        self.orphan_candidates: list[int] = []  # children of the workers we SIGKILLed
        self.figures = Figures(seed=self.seed, jobs=plan.jobs, bad_inputs=plan.bad_inputs, workers=plan.workers,
                               log_dir=str(self.logs))
        self.outcomes: dict[str, JobOutcome] = {}
        self.expect: dict[str, str] = {}  # job id -> "good" | "bad"
        self.priority: dict[str, str] = {}
        self.terminal: dict[str, list[dict[str, Any]]] = {}  # job id -> every job_done/job_failed event
        self.t0 = 0.0
        self._watchers: list[tuple[str, asyncio.Future[str]]] = []
        self._all_finished: asyncio.Event | None = None
        self._held: set[str] = set()  # the jobs held back (FaultPlan.held_back_jobs), submitted on _release_held
        self._release_held = asyncio.Event()
        self._paused = False

    # -- infrastructure ----------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        assert self.broker is not None
        return f"{self.broker.host}:{self.broker.port}"

    def env(self) -> dict[str, str]:
        assert self.broker is not None
        return {
            **os.environ,
            "STREAMAPP_BROKER": self.broker.url,
            "STREAMAPP_REDIS_URL": self.redis.url,
            "STREAMAPP_DATA_DIR": str(self.data_dir),
            "STREAMAPP_TOPIC_PREFIX": self.topics.prefix,
            "STREAMAPP_APP_ID": self.topics.app_id,
            "STREAMAPP_WEB_PORT": str(free_port()),
            "STREAMAPP_OUTPUT_LONG_SIDE": "320",
            "STREAMAPP_POOL_SIZE": str(self.plan.pool_size),
            "STREAMAPP_SESSION_TIMEOUT_S": "3",
            "STREAMAPP_HEARTBEAT_INTERVAL_S": "0.5",
            "STREAMAPP_REBALANCE_TIMEOUT_S": "3",
        }

    def start_worker(self) -> WorkerProcess:
        index = len(self.every_worker)
        worker = WorkerProcess(self.env(), self.logs / f"worker{index:02d}.log")
        self.every_worker.append(worker)
        worker.start()
        self.started_at[worker] = time.monotonic()
        self.workers.append(worker)
        return worker

    def _children(self, worker: WorkerProcess) -> list[int]:
        try:
            assert worker.process is not None
            children = psutil.Process(worker.process.pid).children(recursive=True)
        except (psutil.Error, AssertionError):
            return []
        self.pool.update((child.pid, child) for child in children)
        return [child.pid for child in children]

    def _elapsed(self) -> float:
        return time.monotonic() - self.t0

    def _note(self, text: str) -> None:
        self.figures.faults.append(f"{self._elapsed():6.1f}s {text}")

    # -- the run -------------------------------------------------------------------------------------

    def run(self) -> Figures:
        started = time.monotonic()
        try:
            good, bad = make_inputs(self.workdir / "media", self.plan, self.rng)
            self.broker = EmbeddedBroker(log_path=self.logs / "broker.log").start()
            self.redis.start()
            for _ in range(self.plan.workers):
                self.start_worker()
            jobs = self._jobs(good, bad)
            asyncio.run(self._scenario(jobs))
            self._check_outputs()
            asyncio.run(self._check_job_log())
            self._check_statuses()
        finally:
            self._teardown()
        self.figures.wall_s = time.monotonic() - started
        return self.figures

    def _jobs(self, good: list[Path], bad: list[Path]) -> list[dict[str, Any]]:
        jobs = []
        priorities = ["high", "normal", "low"]
        for index, path in enumerate(good + bad):
            job_id = self._job_id_on(index % self.topics.job_partitions) if self.plan.spread_jobs else None
            job = submission(path, self.out_dir, priority=self.rng.choice(priorities), options=self.plan.options,
                             job_id=job_id)
            self.expect[job["job_id"]] = "good" if path in good else "bad"
            self.priority[job["job_id"]] = job["request"]["priority"]
            jobs.append(job)
        self.rng.shuffle(jobs)
        return jobs

    def _job_id_on(self, partition: int) -> str:
        while True:
            job_id = f"{self.rng.getrandbits(64):016x}"
            if job_partition(job_id, self.topics.job_partitions) == partition:
                return job_id

    def _count_extracts(self, worker: WorkerProcess) -> None:
        """How many extract runs ``worker`` has finished (its /metrics), kept under its log's name."""
        url = f"http://127.0.0.1:{worker.web_port}/metrics"
        with contextlib.suppress(OSError, ValueError), urllib.request.urlopen(url, timeout=2) as response:
            for line in response.read().decode().splitlines():
                if line.startswith('streamapp_stage_duration_seconds_count{stage="extract"}'):
                    self.figures.extracts_by_worker[worker.log_path.stem] = int(float(line.split()[-1]))

    def _every_worker_worked(self) -> bool:
        for worker in self.workers:
            self._count_extracts(worker)
        return all(self.figures.extracts_by_worker.get(w.log_path.stem, 0) > 0 for w in self.workers)

    async def _scenario(self, jobs: list[dict[str, Any]]) -> None:
        self.outcomes = {job["job_id"]: JobOutcome(job["job_id"]) for job in jobs}
        self.terminal = {job["job_id"]: [] for job in jobs}
        self._all_finished = asyncio.Event()
        self._release_held = asyncio.Event()
        good = [job for job in jobs if self.expect[job["job_id"]] == "good"]
        held = good[len(good) - min(self.plan.held_back_jobs, max(len(good) - 1, 0)):]  # one good job goes first
        self._held = {job["job_id"] for job in held}
        async with Follower(self.bootstrap, self.topics) as follower, Submitter(self.bootstrap, self.topics) as sub:
            reader = asyncio.create_task(self._read(follower))
            self.t0 = time.monotonic()
            for job in jobs:
                if job["job_id"] not in self._held:
                    await sub.submit(job)
            releaser = asyncio.create_task(self._submit_held(sub, held))
            driver = asyncio.create_task(self._drive_faults())
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._all_finished.wait(), self.plan.deadline_s - self._elapsed())
                if self._all_finished.is_set():
                    await asyncio.sleep(self.plan.grace_s)  # late duplicates of results
            finally:
                for task in (driver, releaser):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await self._restore()
                self._count_orphans()
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader

    async def _read(self, follower: Follower) -> None:
        async for event in follower.events():
            job_id = event.get("job_id", "")
            outcome = self.outcomes.get(job_id)
            if outcome is None:
                continue
            if event["type"] in ("job_done", "job_failed"):
                self.terminal[job_id].append(event)
                for state, future in list(self._watchers):
                    if state == "ended" and not future.done():
                        future.set_result(job_id)
            if outcome.finished:
                continue
            apply_event(outcome, event)
            if event["type"] == "job_status":
                for state, future in list(self._watchers):
                    if event["state"] == state and not future.done():
                        future.set_result(job_id)
            if all(o.finished for o in self.outcomes.values()):
                assert self._all_finished is not None
                self._all_finished.set()
            if all(o.finished for job_id, o in self.outcomes.items() if job_id not in self._held):
                self._release_held.set()

    async def _submit_held(self, sub: Submitter, held: list[dict[str, Any]]) -> None:
        await self._release_held.wait()
        for job in held:
            await sub.submit(job)
        if held:
            self._note(f"submitted the {len(held)} job(s) held back")

    def _next_entry(self, state: str) -> asyncio.Future[str]:
        """Resolves with the id of the next job seen in ``state`` (a job entering it, or its progress)."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        entry = (state, future)
        self._watchers.append(entry)
        future.add_done_callback(lambda _: self._watchers.remove(entry))
        return future

    # -- faults --------------------------------------------------------------------------------------

    def _schedule(self) -> list[tuple[str, str]]:
        kills = [("kill", self.plan.kill_states[i % len(self.plan.kill_states)]) for i in range(self.plan.kills)]
        others = [("redis", "")] * self.plan.redis_restarts + [("pause", "")] * self.plan.pauses
        self.rng.shuffle(others)
        order: list[tuple[str, str]] = []
        for i in range(max(len(kills), len(others))):  # alternate, so kills and outages interleave
            if i < len(kills):
                order.append(kills[i])
            if i < len(others):
                order.append(others[i])
        return order

    async def _drive_faults(self) -> None:
        redis_back: list[asyncio.Task[None]] = []
        await asyncio.sleep(self.plan.first_fault_after_s)
        while self.plan.faults_once_all_worked and not await asyncio.to_thread(self._every_worker_worked):
            await asyncio.sleep(1.0)
        try:
            schedule = self._schedule()
            for number, (kind, state) in enumerate(schedule, 1):
                if number == len(schedule):
                    self._release_held.set()
                await asyncio.sleep(self.rng.uniform(*self.plan.fault_gap_s))
                if kind == "kill":
                    await self._kill(state)
                elif kind == "pause":
                    await self._pause()
                else:
                    redis_back.append(await self._redis_outage())
            await asyncio.gather(*redis_back)
        finally:
            for task in redis_back:
                task.cancel()

    async def _busy_state(self) -> str:
        """Wait until some job is being worked on (any live state), so no fault lands on an idle stack."""
        waits = [self._next_entry(s) for s in ("extracting", "scoring", "exporting")]
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            return next(iter(done)).result()
        finally:
            for w in waits:
                w.cancel()

    async def _kill(self, state: str) -> None:
        offset = self.rng.uniform(*self.plan.kill_offsets_s.get(state, (0.0, 1.0)))
        if state == "started":  # the newest worker, moments after its start: its pool is still spawning
            victim = self.workers[-1]
            await asyncio.sleep(max(0.0, self.started_at[victim] + offset - time.monotonic()))
            job_id = "-"
        else:
            job_id = await self._next_entry(state)
            await asyncio.sleep(offset)
            victim = await asyncio.to_thread(self._pick_victim, job_id if state == "ended" else None)
        children = self._children(victim)
        await asyncio.to_thread(self._count_extracts, victim)
        if self.plan.kill_children:
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        victim.kill()
        self.workers.remove(victim)
        self.figures.kills += 1
        self.figures.kill_stages.append(state)
        now = self.outcomes[job_id].state if job_id in self.outcomes else "-"
        self._note(f"SIGKILL {victim.log_path.stem} (pid {victim.process.pid if victim.process else '?'}) "
                   f"{offset:.2f}s after {job_id} was seen {state} (now {now})")
        self.orphan_candidates.extend(children)
        if not self.plan.replace_killed:
            return
        await asyncio.sleep(self.rng.uniform(*self.plan.restart_delay_s))
        worker = await asyncio.to_thread(self.start_worker)
        self._note(f"started {worker.log_path.stem}")

    def _count_orphans(self) -> None:
        """Children of SIGKILLed workers still running now: nothing stops them when their parent dies."""
        for pid in self.orphan_candidates:
            with contextlib.suppress(psutil.Error):
                process = self.pool[pid]
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    self.figures.orphans += 1
                    self.figures.orphan_commands.append(" ".join(process.cmdline())[-90:])

    def _pick_victim(self, job_id: str | None = None) -> WorkerProcess:
        """The worker holding ``job_id``'s partition; without a job, one running a job now (its /healthz
        says so); else any live one."""
        busy, holder = [], []
        for worker in self.workers:
            url = f"http://127.0.0.1:{worker.web_port}/healthz"
            with contextlib.suppress(OSError, ValueError), urllib.request.urlopen(url, timeout=1) as response:
                health = orjson.loads(response.read())
                if health.get("running"):
                    busy.append(worker)
                if job_id is not None and job_partition(job_id) in health.get("job_partitions", ()):
                    holder.append(worker)
        return self.rng.choice(holder or busy or self.workers)

    async def _pause(self) -> None:
        job_id = await self._busy_state()
        assert self.broker is not None and self.broker._process is not None
        pid = self.broker._process.pid
        seconds = self.rng.uniform(*self.plan.pause_s)
        os.kill(pid, signal.SIGSTOP)
        self._paused = True
        self._note(f"broker SIGSTOP for {seconds:.1f}s ({job_id} was {self.outcomes[job_id].state})")
        try:
            await asyncio.sleep(seconds)
        finally:
            os.kill(pid, signal.SIGCONT)
            self._paused = False
        self.figures.broker_pauses += 1
        self._note("broker SIGCONT")

    async def _redis_outage(self) -> asyncio.Task[None]:
        job_id = await self._busy_state()
        seconds = self.rng.uniform(*self.plan.redis_down_s)
        await asyncio.to_thread(self.redis.stop)
        self._note(f"redis stopped for {seconds:.1f}s ({job_id} was {self.outcomes[job_id].state})")

        async def back() -> None:
            await asyncio.sleep(seconds)
            await asyncio.to_thread(self.redis.start)
            self.figures.redis_restarts += 1
            self._note(f"redis restarted on port {self.redis.port}")

        return asyncio.create_task(back())

    async def _restore(self) -> None:
        """Leave the broker running and Redis up whatever the driver was doing when it stopped."""
        if self._paused and self.broker is not None and self.broker._process is not None:
            os.kill(self.broker._process.pid, signal.SIGCONT)
        if self.redis.process is None:  # an outage still under way when the work ran out ends here
            await asyncio.to_thread(self.redis.start)
            self.figures.redis_restarts += 1
            self._note(f"redis restarted on port {self.redis.port} (the work ended during the outage)")

    # -- verdict -------------------------------------------------------------------------------------

    def _check_outputs(self) -> None:
        f = self.figures
        for job_id, outcome in self.outcomes.items():
            kind = self.expect[job_id]
            code = (outcome.error or {}).get("code")
            f.outcomes[job_id] = {"kind": kind, "priority": self.priority[job_id], "state": outcome.state,
                                  "stage": outcome.stage, "error": outcome.error}
            if not outcome.finished:
                f.lost.append(f"{job_id} ({kind}) last seen {outcome.state}/{outcome.stage}")
                continue
            if outcome.state == "done":
                f.done += 1
                if kind == "bad":
                    f.wrong.append(f"{job_id}: a bad input ended done")
            else:
                f.failed += 1
                if kind == "bad" and code == BAD_INPUT_CODE:
                    f.failed_expected += 1
                else:
                    f.wrong.append(f"{job_id} ({kind}) failed in {outcome.stage}: {outcome.error}")
            self._check_job_files(job_id, outcome)

    async def _check_job_log(self) -> None:
        """Read the whole job-status log: after a job's first terminal event, nothing non-terminal may follow."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            parts = await topic_partitions(consumer, self.topics.job_status)
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            ends = await consumer.end_offsets(parts)
            ended: dict[str, str] = {}
            while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
                for messages in (await consumer.getmany(timeout_ms=500)).values():
                    for message in messages:
                        event = orjson.loads(message.value)
                        job_id, state = event.get("job_id", ""), event.get("state")
                        if job_id not in self.outcomes:
                            continue
                        if job_id in ended and state not in ("done", "failed"):
                            self.figures.after_end.append(
                                f"{job_id}: {state} {event.get('stage')} {event.get('progress')} after "
                                f"{ended[job_id]} (offset {message.offset})")
                        elif state in ("done", "failed"):
                            ended.setdefault(job_id, state)
        finally:
            await consumer.stop()

    def _check_statuses(self) -> None:
        """Every live worker's API must give each finished job its end state, whoever holds the job."""
        for job_id, outcome in self.outcomes.items():
            if not outcome.finished:
                continue
            for worker in self.workers:
                url = f"http://127.0.0.1:{worker.web_port}/api/jobs/{job_id}"
                try:
                    with urllib.request.urlopen(url, timeout=10) as response:
                        state = orjson.loads(response.read()).get("state")
                except urllib.error.HTTPError as exc:
                    state = f"HTTP {exc.code}"
                except OSError as exc:
                    state = f"no answer ({exc})"
                if state != outcome.state:
                    self.figures.wrong_status.append(f"{job_id}: {worker.log_path.stem} says {state}, "
                                                     f"the job ended {outcome.state}")

    def _check_job_files(self, job_id: str, outcome: JobOutcome) -> None:
        f = self.figures
        kinds = {e["type"] for e in self.terminal[job_id]}
        if len(self.terminal[job_id]) > 1:
            f.extra_results += len(self.terminal[job_id]) - 1
            counts = {k: sum(e["type"] == k for e in self.terminal[job_id]) for k in sorted(kinds)}
            f.repeated.append(f"{job_id}: {counts}")
        if len(kinds) > 1:
            f.duplicated.append(f"{job_id}: both job_done and job_failed were published")
        manifests = {_comparable(e.get("manifest")) for e in self.terminal[job_id] if e["type"] == "job_done"}
        if len(manifests) > 1:
            f.duplicated.append(f"{job_id}: {len(manifests)} job_done events with different manifests")
        for folder in (self.out_dir / job_id, self.data_dir / "jobs" / job_id):
            for path in folder.rglob("*") if folder.exists() else ():
                if ".part" in path.name or path.name.endswith(".tmp"):
                    f.corrupt.append(f"{job_id}: half-written {path.relative_to(self.workdir)}")
        job_dir = self.out_dir / job_id
        if outcome.state != "done":
            if job_dir.exists() and any(job_dir.iterdir()):
                f.duplicated.append(f"{job_id}: failed but left {sorted(p.name for p in job_dir.iterdir())}")
            return
        manifest_path = job_dir / "manifest.json"
        if not manifest_path.exists():
            f.corrupt.append(f"{job_id}: done but {manifest_path} is missing")
            return
        manifest = orjson.loads(manifest_path.read_bytes())
        if _comparable(manifest) != _comparable(outcome.manifest):
            f.duplicated.append(f"{job_id}: manifest.json on disk differs from the job_done manifest")
        expected = manifest_files(manifest)
        present = {p.name for p in job_dir.iterdir()}
        if present - expected:
            f.duplicated.append(f"{job_id}: files beyond the manifest: {sorted(present - expected)}")
        if expected - present:
            f.corrupt.append(f"{job_id}: manifest files missing: {sorted(expected - present)}")
        for clip in manifest["clips"]:
            if (job_dir / clip["file"]).exists() and not _decodes(job_dir / clip["file"]):
                f.corrupt.append(f"{job_id}: {clip['file']} does not decode")

    def _teardown(self) -> None:
        if self.broker is not None and self.broker._process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.broker._process.pid, signal.SIGCONT)
        for worker in self.workers:
            self._children(worker)
            self._count_extracts(worker)
            worker.stop()
        for worker in self.every_worker:
            worker.kill()
        for process in self.pool.values():  # pool processes left behind by SIGKILLed workers (ours, by pid)
            with contextlib.suppress(psutil.Error):
                if process.is_running():  # psutil checks the start time too: never a recycled pid
                    process.kill()
        self.redis.stop()
        if self.broker is not None:
            self.broker.stop()


def run_faults(plan: FaultPlan, workdir: Path | None = None) -> Figures:
    return FaultHarness(plan, workdir).run()
