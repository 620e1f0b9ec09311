"""Integration: jobs survive SIGKILLed workers, failover, and dead pool processes; priority goes first."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import psutil
import pytest

from streamapp.client import Follower, JobOutcome, Submitter, submission
from streamapp.manifest import manifest_files
from streamapp.transport.embedded import free_port
from streamapp.transport.topics import Topics
from tests.conftest import WorkerProcess
from tests.videos import make_test_video

pytestmark = [pytest.mark.integration, pytest.mark.consumer_groups]  # workers of their own

OPTIONS = {"max_clips": 2, "min_duration_s": 5.0, "max_duration_s": 10.0}


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("media")
    paths = []
    for seed in range(3):
        path = folder / f"v{seed}.mp4"
        make_test_video(path, duration_s=40.0, size=(480, 270), cuts_s=(8.0, 20.0, 31.0), silences=((12.0, 13.0),),
                        burst=(22.0, 26.0), seed=seed)
        paths.append(path)
    return paths


def new_worker(env: dict[str, str], tmp: Path, name: str, **overrides: str) -> WorkerProcess:
    return WorkerProcess({**env, "STREAMAPP_WEB_PORT": str(free_port()), **overrides}, tmp / f"{name}.log").start()


async def follow_jobs(bootstrap: str, topics: Topics, jobs: list[dict[str, Any]], on_change=None,  # noqa: ANN001
                      timeout_s: float = 120, submit_later: list[dict[str, Any]] | None = None):
    outcomes = {job["job_id"]: JobOutcome(job["job_id"]) for job in jobs}
    seen: list[dict[str, Any]] = []

    def record(outcome: JobOutcome, event: dict[str, Any]) -> None:
        seen.append(event)
        if on_change:
            on_change(outcome, event)

    async with Follower(bootstrap, topics) as follower, Submitter(bootstrap, topics) as submitter:
        for job in jobs:
            await submitter.submit(job)
        await asyncio.wait_for(follower.follow(outcomes, record), timeout_s)
    return outcomes, seen


def assert_exactly_one_set_of_outputs(out_dir: Path, outcomes: dict[str, JobOutcome]) -> None:
    for job_id, outcome in outcomes.items():
        assert outcome.state == "done", (job_id, outcome.error)
        files = sorted(p.name for p in (out_dir / job_id).iterdir())
        expected = sorted(manifest_files(outcome.manifest))
        assert files == expected, f"{job_id}: {files} != {expected}"


def test_sigkilled_worker_resumes_every_job_after_restart(stack_env, bootstrap, topics, videos, tmp_path) -> None:
    worker = new_worker(stack_env, tmp_path, "first")
    jobs = [submission(v, tmp_path, options=OPTIONS) for v in videos[:2]]
    killed: list[str] = []
    restarted: list[WorkerProcess] = []

    def kill_mid_export(outcome: JobOutcome, event: dict[str, Any]) -> None:
        if not killed and event["type"] == "job_status" and event["state"] == "exporting":
            killed.append(event["job_id"])
            worker.kill()
            restarted.append(new_worker(stack_env, tmp_path, "second"))

    try:
        outcomes, _ = asyncio.run(follow_jobs(bootstrap, topics, jobs, kill_mid_export))
    finally:
        worker.stop()
        for process in restarted:
            process.stop()
    assert killed, "the worker was never caught exporting"
    assert_exactly_one_set_of_outputs(tmp_path, outcomes)


def test_surviving_worker_takes_over_a_killed_ones_jobs(stack_env, bootstrap, topics, videos, tmp_path) -> None:
    first = new_worker(stack_env, tmp_path, "a")
    second = new_worker(stack_env, tmp_path, "b")
    jobs = [submission(v, tmp_path, options=OPTIONS) for v in videos]
    killed: list[int] = []

    def kill_first_when_busy(outcome: JobOutcome, event: dict[str, Any]) -> None:
        if not killed and event["type"] == "job_status" and event["state"] == "extracting":
            killed.append(1)
            first.kill()

    try:
        outcomes, _ = asyncio.run(follow_jobs(bootstrap, topics, jobs, kill_first_when_busy))
        assert second.alive()
    except TimeoutError:
        pytest.fail(f"jobs did not finish; surviving worker's log tail:\n{second.log()}")
    finally:
        first.stop()
        second.stop()
    assert killed
    assert_exactly_one_set_of_outputs(tmp_path, outcomes)


def test_a_dead_pool_process_is_retried(stack_env, bootstrap, topics, tmp_path) -> None:
    worker = new_worker(stack_env, tmp_path, "pool")
    job = submission(fresh_videos(tmp_path, 1)[0], tmp_path, options=OPTIONS)  # uncached: extract takes a while
    victims: list[int] = []

    def kill_a_pool_process(outcome: JobOutcome, event: dict[str, Any]) -> None:
        if not victims and event["type"] == "job_status" and event["state"] == "extracting":
            for child in psutil.Process(worker.process.pid).children(recursive=True):
                if "spawn_main" in " ".join(child.cmdline()):
                    victims.append(child.pid)
                    os.kill(child.pid, signal.SIGKILL)

    try:
        outcomes, _ = asyncio.run(follow_jobs(bootstrap, topics, [job], kill_a_pool_process))
        assert victims
        assert outcomes[job["job_id"]].state == "done", outcomes[job["job_id"]].error
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/jobs/{job['job_id']}") as response:
            record = orjson.loads(response.read())
        assert record["attempts"] >= 1, record
    finally:
        worker.stop()


def fresh_videos(folder: Path, count: int) -> list[Path]:
    """Videos no earlier run has seen, so the result cache cannot make their extract instant."""
    paths = []
    for index in range(count):
        path = folder / f"fresh{index}.mp4"
        make_test_video(path, duration_s=40.0, size=(480, 270), cuts_s=(8.0, 20.0), silences=(),
                        burst=(22.0, 26.0), seed=random.randrange(1 << 30))
        paths.append(path)
    return paths


def test_high_priority_starts_before_a_waiting_low_backlog(stack_env, bootstrap, topics, tmp_path) -> None:
    # One slot for good: the optimizer would otherwise grow the pool for the backlog (its CPU samples from before
    # the jobs came show headroom) and every low job would start before the high one arrived.
    worker = new_worker(stack_env, tmp_path, "prio", STREAMAPP_POOL_SIZE="1", STREAMAPP_POOL_MAX_SIZE="1")
    media = fresh_videos(tmp_path, 5)
    lows = [submission(path, tmp_path, options=OPTIONS, priority="low") for path in media[:4]]
    high = submission(media[4], tmp_path, options=OPTIONS, priority="high")

    async def scenario() -> list[dict[str, Any]]:
        outcomes = {job["job_id"]: JobOutcome(job["job_id"]) for job in [*lows, high]}
        seen: list[dict[str, Any]] = []
        async with Follower(bootstrap, topics) as follower, Submitter(bootstrap, topics) as submitter:
            for job in lows:
                await submitter.submit(job)
            follow = asyncio.create_task(follower.follow(outcomes, lambda o, e: seen.append(e)))
            while not any(e["type"] == "job_status" and e["state"] == "extracting" for e in seen):
                await asyncio.sleep(0.05)
            await submitter.submit(high)  # behind a real backlog: one low running, three waiting
            await asyncio.wait_for(follow, 300)
        return seen

    try:
        seen = asyncio.run(scenario())
    finally:
        worker.stop()
    status = [e for e in seen if e["type"] == "job_status"]
    started: dict[str, float] = {}
    for e in status:
        if e["state"] == "extracting":
            started.setdefault(e["job_id"], e["at"])
    queued_high = next(e["at"] for e in status if e["job_id"] == high["job_id"] and e["state"] == "queued")
    assert set(started) == {j["job_id"] for j in [*lows, high]}
    # No low job that was still waiting when the high one arrived started before it.
    late_lows = [job["job_id"] for job in lows if started[job["job_id"]] > queued_high]
    assert late_lows and all(started[high["job_id"]] < started[j] for j in late_lows)
    assert len(late_lows) >= 2

