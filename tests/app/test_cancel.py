"""Integration: cancelling and expiring jobs on a real worker (one pool slot), a real Kafka-protocol broker and a
real Redis.

A job queued behind a running one is cancelled through the API and never starts; the running one is cancelled
with `streamapp cancel` and stops mid-stage, leaving no files; the worker then goes on with new work. Ended jobs
are forgotten after the retention setting, their clips kept.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamapp.client import Follower, JobOutcome, Submitter, read_job_record, submission
from streamapp.transport.topics import Topics
from tests.app.test_worker import read_topic_until
from tests.conftest import WorkerProcess, wait_until
from tests.videos import make_test_video

pytestmark = pytest.mark.integration

RETENTION_S = 30.0  # long enough for the first test's checks of ended jobs
OPTIONS = {"max_clips": 10, "min_duration_s": 5.0, "max_duration_s": 10.0, "aspect": "9:16"}


@pytest.fixture(scope="module")
def one_slot_worker(stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory):
    env = {**stack_env, "STREAMAPP_POOL_SIZE": "1", "STREAMAPP_POOL_MAX_SIZE": "1",
           "STREAMAPP_JOB_RETENTION_S": str(RETENTION_S)}
    process = WorkerProcess(env, tmp_path_factory.mktemp("logs") / "worker.log").start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Long enough that its job is still running when the cancel reaches the worker.
    path = tmp_path_factory.mktemp("media") / "long.mp4"
    make_test_video(path, duration_s=300.0, size=(160, 90), cuts_s=tuple(float(t) for t in range(20, 300, 30)),
                    silences=(), burst=(100.0, 110.0))
    return path


@pytest.fixture(scope="module")
def short_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("media") / "short.mp4"
    make_test_video(path, duration_s=30.0, cuts_s=(6.0, 14.0, 22.0), silences=((9.0, 10.0),), burst=(15.0, 19.0))
    return path


def logged_state(bootstrap: str, topics: Topics, job_id: str) -> str | None:
    record = asyncio.run(read_job_record(bootstrap, topics, job_id))
    return record["state"] if record else None


def api_cancel(worker: WorkerProcess, job_id: str, reason: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"http://127.0.0.1:{worker.web_port}/api/jobs/{job_id}/cancel",
                                     data=orjson.dumps({"reason": reason}), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


async def submit_all(bootstrap: str, topics: Topics, jobs: list[dict[str, Any]]) -> None:
    async with Submitter(bootstrap, topics) as submitter:
        for job in jobs:
            await submitter.submit(job)


async def run_to_end(bootstrap: str, topics: Topics, job: dict[str, Any], timeout_s: float = 180) -> JobOutcome:
    outcomes = {job["job_id"]: JobOutcome(job["job_id"])}
    async with Follower(bootstrap, topics) as follower:
        await submit_all(bootstrap, topics, [job])
        await asyncio.wait_for(follower.follow(outcomes), timeout_s)
    return outcomes[job["job_id"]]


def results_of(bootstrap: str, topics: Topics, job_ids: set[str], ends: int) -> list[dict[str, Any]]:
    """The result events of ``job_ids`` once ``ends`` of them have ended (and a second more for stragglers)."""
    def ended(found: list[Any]) -> bool:
        kinds = [orjson.loads(m.value) for m in found]
        return sum(1 for e in kinds if e["job_id"] in job_ids and e["type"] in ("job_done", "job_failed")) >= ends

    asyncio.run(read_topic_until(bootstrap, topics.results, ended, timeout_s=120))
    time.sleep(1.0)
    found = asyncio.run(read_topic_until(bootstrap, topics.results, lambda _: False, timeout_s=2))
    return [e for e in (orjson.loads(m.value) for m in found) if e["job_id"] in job_ids]


def test_cancelled_jobs_stop_leave_no_files_and_the_worker_goes_on(one_slot_worker, bootstrap, topics, stack_env,
                                                                   long_video, short_video, tmp_path) -> None:
    running = submission(long_video, tmp_path, options=OPTIONS)
    waiting = submission(short_video, tmp_path, options=OPTIONS, priority="low")
    asyncio.run(submit_all(bootstrap, topics, [running, waiting]))
    assert wait_until(lambda: logged_state(bootstrap, topics, running["job_id"]) == "extracting", 60)
    assert wait_until(lambda: logged_state(bootstrap, topics, waiting["job_id"]) == "queued", 30)

    # The queued job, through the worker's API: 202, and it never starts.
    status, job = api_cancel(one_slot_worker, waiting["job_id"], "wrong file")
    assert status == 202 and job["cancel_requested"] > 0, job
    # The running one, with the CLI, which waits for the job to stop.
    env = {**stack_env}
    cli = subprocess.run([sys.executable, "-m", "streamapp", "cancel", running["job_id"], "--json"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert orjson.loads(cli.stdout) == {running["job_id"]: "cancelled"}

    results = results_of(bootstrap, topics, {running["job_id"], waiting["job_id"]}, ends=2)
    assert sorted((e["type"], e["job_id"]) for e in results) == sorted(
        [("job_failed", running["job_id"]), ("job_failed", waiting["job_id"])]), results  # no clip, no second end
    by_job = {e["job_id"]: e for e in results}
    assert by_job[running["job_id"]]["error"]["code"] == "cancelled"
    assert by_job[waiting["job_id"]]["error"] == {"code": "cancelled", "message": "cancelled on request: wrong file"}
    # Nothing was left: neither clips nor half files nor signals.
    data_dir = Path(stack_env["STREAMAPP_DATA_DIR"])
    for job_id in (running["job_id"], waiting["job_id"]):
        assert not (tmp_path / job_id).exists()
        assert not (data_dir / "jobs" / job_id).exists()
        assert logged_state(bootstrap, topics, job_id) == "failed"
    states = asyncio.run(read_topic_until(bootstrap, topics.job_status, lambda _: False, timeout_s=2))
    waiting_states = [orjson.loads(m.value) for m in states if m.key == waiting["job_id"].encode()]
    assert "extracting" not in [e.get("state") for e in waiting_states]  # it never started
    # An ended job cannot be cancelled; an unknown one is a one-line answer.
    assert api_cancel(one_slot_worker, running["job_id"], "again")[0] == 409
    again = subprocess.run([sys.executable, "-m", "streamapp", "cancel", waiting["job_id"], "nosuchjob"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 1
    assert again.stdout.splitlines() == [f"{waiting['job_id']}: ended: failed", "nosuchjob: no such job"]

    # The worker is up and takes new work to the end.
    fresh = submission(short_video, tmp_path, options={**OPTIONS, "max_clips": 1})
    assert asyncio.run(run_to_end(bootstrap, topics, fresh)).state == "done"
    assert one_slot_worker.alive()


def test_ended_jobs_expire_after_the_retention_and_keep_their_clips(one_slot_worker, bootstrap, topics, stack_env,
                                                                     short_video, tmp_path) -> None:
    job = submission(short_video, tmp_path, options={**OPTIONS, "max_clips": 1})
    assert asyncio.run(run_to_end(bootstrap, topics, job)).state == "done"
    work = Path(stack_env["STREAMAPP_DATA_DIR"]) / "jobs" / job["job_id"]
    clips = sorted(p.name for p in (tmp_path / job["job_id"]).iterdir())
    assert work.is_dir() and "manifest.json" in clips
    url = f"http://127.0.0.1:{one_slot_worker.web_port}/api/jobs/{job['job_id']}"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert orjson.loads(response.read())["state"] == "done"

    def forgotten() -> bool:
        try:
            urllib.request.urlopen(url, timeout=10).close()
        except urllib.error.HTTPError as exc:
            return exc.code == 404
        return False

    assert wait_until(forgotten, RETENTION_S * 3, interval_s=1.0), one_slot_worker.log()
    assert logged_state(bootstrap, topics, job["job_id"]) is None  # its log says it expired
    assert not work.exists()
    assert sorted(p.name for p in (tmp_path / job["job_id"]).iterdir()) == clips  # the clips are the user's
