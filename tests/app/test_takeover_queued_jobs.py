"""A job whose events all lie before the offset at which its job-status partition was taken over, and whose record
the new owner's table lacks (the killed owner committed past the event but its changelog write was lost, or the
changelog recovery came up short on the embedded broker), is still run by the partition's new owner. A six-worker
scale-out run had such a job queued until the deadline while a live worker held its partition."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from streamapp.client import read_job_record, submission
from streamapp.events import status_event
from streamapp.transport.admin import ensure_topics
from streamapp.transport.embedded import free_port
from streamapp.transport.topics import Topics, job_partition
from tests.conftest import WorkerProcess, commit_group_offset, wait_until
from tests.videos import make_test_video


@pytest.mark.integration
@pytest.mark.consumer_groups
def test_a_queued_job_before_the_takeover_offset_missing_from_the_table_is_run(
        stack_env: dict[str, str], bootstrap: str, topics: Topics, tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    make_test_video(video, duration_s=4.0, size=(160, 90), cuts_s=(2.0,), silences=(), burst=(1.0, 2.0), seed=7)
    job = submission(video, tmp_path / "out", options={"max_clips": 1, "min_duration_s": 1.0, "max_duration_s": 3.0})
    job_id = job["job_id"]
    tp = TopicPartition(topics.job_status, job_partition(job_id, topics.job_partitions))

    async def dead_owner() -> None:
        # What the partition's killed owner left: the job's queued event in the log, the group's offset past it,
        # and nothing in the table's changelog.
        await ensure_topics(bootstrap, topics.specs())
        request = job["request"]
        queued = status_event(job_id, "queued", "submit", request=request, priority=request["priority"],
                         path=request["path"])
        async with AIOKafkaProducer(bootstrap_servers=bootstrap) as producer:
            await producer.send_and_wait(tp.topic, orjson.dumps(queued), key=job_id.encode(), partition=tp.partition)
        await commit_group_offset(bootstrap, topics.app_id, tp, 1)

    asyncio.run(dead_owner())
    worker = WorkerProcess({**stack_env, "STREAMAPP_WEB_PORT": str(free_port()), "STREAMAPP_POOL_SIZE": "1"},
                           tmp_path / "worker.log").start()
    try:
        def started() -> bool:
            record = asyncio.run(read_job_record(bootstrap, topics, job_id))
            return record is not None and record["state"] != "queued"

        assert wait_until(started, timeout_s=45.0, interval_s=1.0), worker.log()
    finally:
        worker.stop()
