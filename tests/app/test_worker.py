"""Integration: a real worker process, a real Kafka-protocol broker and a real Redis."""

from __future__ import annotations

import asyncio
import hashlib
import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import orjson
import pytest
import redis
from aiokafka import AIOKafkaConsumer

from streamapp.client import Follower, JobOutcome, Submitter, submission
from streamapp.events import validate, validate_manifest
from streamapp.transport.topics import Topics
from tests.videos import make_test_video

pytestmark = pytest.mark.integration

OPTIONS = {"max_clips": 2, "min_duration_s": 5.0, "max_duration_s": 10.0, "aspect": "9:16"}


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("media") / "talk.mp4"
    make_test_video(path, duration_s=30.0, cuts_s=(6.0, 14.0, 22.0), silences=((9.0, 10.0),), burst=(15.0, 19.0))
    return path


async def run_jobs(bootstrap: str, topics: Topics, jobs: list[dict[str, Any]], timeout_s: float = 240):
    outcomes = {job["job_id"]: JobOutcome(job["job_id"]) for job in jobs}
    async with Follower(bootstrap, topics) as follower, Submitter(bootstrap, topics) as submitter:
        for job in jobs:
            await submitter.submit(job)
        await asyncio.wait_for(follower.follow(outcomes), timeout_s)
    return outcomes


async def read_topic(bootstrap: str, topic: str, count: int, timeout_s: float = 30) -> list[Any]:
    return await read_topic_until(bootstrap, topic, lambda found: len(found) >= count, timeout_s)


async def read_topic_until(bootstrap: str, topic: str, enough: Callable[[list[Any]], bool],
                           timeout_s: float = 30) -> list[Any]:
    """Read from the start until `enough` holds; delivery is at-least-once, so a count alone can be fooled by a
    repeat (an event dead-lettered twice around a rebalance)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    found: list[Any] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not enough(found) and loop.time() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                found += messages
    finally:
        await consumer.stop()
    return found


def read_dead_letters(bootstrap: str, topics: Topics, reasons: tuple[str, ...]) -> list[dict[str, Any]]:
    """The dead letters on the topic once every reason asked for has appeared (or the wait ran out)."""
    def seen_all(found: list[Any]) -> bool:
        text = " | ".join(orjson.loads(m.value).get("reason", "") for m in found)
        return all(reason in text for reason in reasons)

    messages = asyncio.run(read_topic_until(bootstrap, topics.dead_letter, seen_all))
    return [validate(orjson.loads(m.value)) for m in messages]


def test_video_becomes_clips_with_manifest(worker, bootstrap, topics, video, tmp_path) -> None:
    job = submission(video, tmp_path, options=OPTIONS)
    outcome = asyncio.run(run_jobs(bootstrap, topics, [job]))[job["job_id"]]
    assert outcome.state == "done", outcome.error
    manifest = outcome.manifest
    validate_manifest(manifest)
    on_disk = json.loads((tmp_path / job["job_id"] / "manifest.json").read_text())
    assert on_disk == manifest
    assert manifest["source"]["has_audio"] is True
    assert abs(manifest["source"]["duration_s"] - 30.0) < 0.1
    assert 1 <= len(manifest["clips"]) <= 2
    assert set(manifest["timings_s"]) >= {"extract", "score", "export"}
    # One clip_ready event per clip, and every clip file is a real H.264 + AAC MP4 of the asked size.
    assert sorted(c["id"] for c in outcome.clips) == sorted(c["id"] for c in manifest["clips"])
    for clip in manifest["clips"]:
        assert 5.0 - 0.05 <= clip["end_s"] - clip["start_s"] <= 10.0 + 0.05
        assert 0 <= clip["score"] <= 100 and clip["reason"]
        with av.open(str(tmp_path / job["job_id"] / clip["file"])) as container:
            v = container.streams.video[0]
            assert v.codec_context.name == "h264"
            assert (v.codec_context.width, v.codec_context.height) == (clip["width"], clip["height"])
            assert clip["width"] * 16 == clip["height"] * 9
            assert container.streams.audio and container.streams.audio[0].codec_context.name == "aac"
        assert (tmp_path / job["job_id"] / clip["thumbnail"]).stat().st_size > 0


def test_half_files_of_a_killed_run_are_removed_when_the_job_ends(worker, bootstrap, topics, video, stack_env,
                                                                   tmp_path) -> None:
    job = submission(video, tmp_path, options=OPTIONS)
    # What a pool process killed mid-write leaves behind (as in the fault-injection runs).
    work_dir = Path(stack_env["STREAMAPP_DATA_DIR"]) / "jobs" / job["job_id"]
    out_dir = tmp_path / job["job_id"]
    for folder, name in ((work_dir, ".signals.4242-dead.part.npz"), (out_dir, ".clip-01.4242-dead.part.mp4")):
        folder.mkdir(parents=True)
        (folder / name).write_bytes(b"half")
    assert asyncio.run(run_jobs(bootstrap, topics, [job]))[job["job_id"]].state == "done"
    assert [p.name for p in [*work_dir.iterdir(), *out_dir.iterdir()] if ".part" in p.name] == []
    assert (work_dir / "signals.npz").exists()


def test_status_reads_the_job_table(worker, bootstrap, topics, video, tmp_path) -> None:
    job = submission(video, tmp_path, options=OPTIONS)
    asyncio.run(run_jobs(bootstrap, topics, [job]))
    url = f"http://127.0.0.1:{worker.web_port}/jobs/{job['job_id']}"
    # The table is written by its own agent from the job-status topic, so it may trail the result event.
    for _ in range(50):
        with urllib.request.urlopen(url, timeout=5) as response:
            record = orjson.loads(response.read())
        if record["state"] == "done":
            break
        asyncio.run(asyncio.sleep(0.2))
    assert record["state"] == "done" and record["job_id"] == job["job_id"]
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/jobs/nosuchjob", timeout=5)
    assert missing.value.code == 404


def test_repeat_submission_hits_the_redis_cache(worker, bootstrap, topics, stack_env, tmp_path) -> None:
    fresh = tmp_path / "fresh.mp4"
    make_test_video(fresh, duration_s=12.0, cuts_s=(4.0,), silences=(), burst=None, seed=7)
    client = redis.Redis.from_url(stack_env["STREAMAPP_REDIS_URL"])
    sha = hashlib.sha256(fresh.read_bytes()).hexdigest()
    for stale in client.keys(f"streamapp:signals:{sha}:*"):  # left by an earlier run of this suite
        client.delete(stale)
    first = submission(fresh, tmp_path, options=OPTIONS)
    second = submission(fresh, tmp_path, options=OPTIONS)
    asyncio.run(run_jobs(bootstrap, topics, [first]))
    asyncio.run(run_jobs(bootstrap, topics, [second]))
    extracted = [orjson.loads(m.value) for m in asyncio.run(read_topic(bootstrap, topics.extracted, 100, 5))]
    by_job = {e["job_id"]: e for e in extracted}
    assert by_job[first["job_id"]]["cached"] is False
    assert by_job[second["job_id"]]["cached"] is True
    assert by_job[first["job_id"]]["source"]["sha256"] == sha
    assert client.keys(f"streamapp:signals:{sha}:*")


def test_bad_inputs_fail_with_codes_and_the_worker_stays_up(worker, bootstrap, topics, video, tmp_path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("hello world")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    jobs = {
        "input_missing": submission(tmp_path / "nope.mp4", tmp_path),
        "input_not_video": submission(text, tmp_path),
        "input_empty": submission(empty, tmp_path),
    }
    good = submission(video, tmp_path, options=OPTIONS)
    outcomes = asyncio.run(run_jobs(bootstrap, topics, [*jobs.values(), good]))
    for code, job in jobs.items():
        outcome = outcomes[job["job_id"]]
        assert outcome.state == "failed"
        assert outcome.error["code"] == code
        assert "\n" not in outcome.error["message"] and "Traceback" not in outcome.error["message"]
    assert outcomes[good["job_id"]].state == "done"
    assert worker.alive()


def test_malformed_events_go_to_dead_letter_and_never_stop_the_agent(worker, bootstrap, topics, video,
                                                                     tmp_path) -> None:
    async def send_garbage() -> None:
        async with Submitter(bootstrap, topics) as submitter:
            await submitter.send_raw(topics.videos, b"{not json", partition=1)
            await submitter.send_raw(topics.videos, orjson.dumps({"type": "video_submitted", "schema_version": 99}),
                                     partition=1)

    asyncio.run(send_garbage())
    good = submission(video, tmp_path, options=OPTIONS)
    assert asyncio.run(run_jobs(bootstrap, topics, [good]))[good["job_id"]].state == "done"
    letters = read_dead_letters(bootstrap, topics, ("event_malformed", "event_unknown_version"))
    reasons = " | ".join(letter["reason"] for letter in letters)
    assert "event_malformed" in reasons and "event_unknown_version" in reasons
    assert all(letter["topic"] == topics.videos for letter in letters)


def test_submissions_land_on_their_priority_partition(bootstrap, topics, tmp_path, worker) -> None:
    jobs = [submission(tmp_path / f"{p}.mp4", tmp_path, priority=p) for p in ("low", "high", "normal")]

    async def publish() -> None:
        async with Submitter(bootstrap, topics) as submitter:
            for job in jobs:
                await submitter.submit(job)

    asyncio.run(publish())
    messages = asyncio.run(read_topic(bootstrap, topics.videos, 1000, 5))
    partition_of = {}
    for message in messages:
        try:
            partition_of[orjson.loads(message.value).get("job_id")] = message.partition
        except orjson.JSONDecodeError:  # the garbage another test sent
            continue
    assert [partition_of[job["job_id"]] for job in jobs] == [2, 0, 1]


@pytest.mark.consumer_groups
def test_a_second_worker_on_the_same_machine_serves_on_a_free_port(worker, stack_env, tmp_path) -> None:
    """Its configured web port is the first worker's: it says so in one line and serves elsewhere."""
    import re
    import subprocess
    import sys

    from tests.conftest import wait_until

    log_path = tmp_path / "second.log"
    with open(log_path, "wb") as log:
        second = subprocess.Popen([sys.executable, "-m", "streamapp", "worker"], env=stack_env, stdout=log,
                                  stderr=subprocess.STDOUT)
    try:
        moved = re.compile(r"web port (\d+) is in use \(another worker\?\); this worker serves on (\d+)")
        assert wait_until(lambda: moved.search(log_path.read_text(errors="replace")), 60), log_path.read_text()
        taken, port = map(int, moved.search(log_path.read_text()).groups())
        assert taken == worker.web_port and port != taken

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    return orjson.loads(response.read())["ok"] is True
            except OSError:
                return False

        assert wait_until(healthy, 60), log_path.read_text()[-3000:]
        announced = f"page and API at http://127.0.0.1:{port}/"  # where to find it, logged
        assert wait_until(lambda: announced in log_path.read_text(errors="replace"), 30), log_path.read_text()
        assert second.poll() is None and "Traceback" not in log_path.read_text()
    finally:
        second.terminate()
        second.wait(timeout=30)
