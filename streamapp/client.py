"""Producer and follower helpers: submit videos as events and follow their jobs to the end.

Used by the CLI and by tests; it talks to the broker directly with aiokafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streamapp import events
from streamapp.app.jobs import RANK, fold_into
from streamapp.errors import TransientError
from streamapp.media.fetch import is_url
from streamapp.transport import clients
from streamapp.transport.topics import Topics, job_partition, partition_for_priority


def new_job_id() -> str:
    return uuid.uuid4().hex[:16]


def submission(
    path: str | Path,
    out_dir: str | Path,
    *,
    priority: str = "normal",
    options: dict[str, Any] | None = None,
    job_id: str | None = None,
    name: str | None = None,
    live: bool = False,
) -> dict[str, Any]:
    """A validated video_submitted event. Paths are made absolute: workers may run elsewhere. ``name`` is what
    people call the video (an upload's original file name). ``live``: ``path`` is an HLS playlist that grows
    while the stream plays."""
    request = {
        "path": str(path) if is_url(str(path)) else str(Path(path).expanduser().absolute()),
        "options": {k: v for k, v in (options or {}).items() if v is not None},
        "priority": priority,
        "out_dir": str(Path(out_dir).expanduser().absolute()),
        **({"name": name[:255]} if name else {}),
        **({"live": True} if live else {}),
    }
    return events.new_event("video_submitted", job_id or new_job_id(), request=request, submitted_at=time.time())


def stop_request(job_id: str) -> dict[str, Any]:
    """A job_stop event: a live job's worker ends its stream there and the job ends as done with its clips."""
    return events.new_event("job_stop", job_id, at=time.time())


def cancel_request(job_id: str, reason: str | None = None) -> dict[str, Any]:
    """A job_cancel event: the job's worker stops it and ends it as job_failed, code "cancelled"."""
    return events.new_event("job_cancel", job_id, at=time.time(), **({"reason": reason[:200]} if reason else {}))


def edit_request(job_id: str, clip_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """A clip_edit event: the job's worker renders the clip again with ``changes`` (clip_edit fields) and
    announces the new version as clip_edited. Raises EventError (event_invalid) for changes the schema refuses."""
    return events.new_event("clip_edit", job_id, edit_id=uuid.uuid4().hex[:16], clip_id=clip_id, at=time.time(),
                            **changes)


class Submitter:
    """Publishes submissions to the input topic, on the partition of their priority."""

    def __init__(self, bootstrap: str, topics: Topics) -> None:
        self.topics = topics
        self._producer = clients.producer(bootstrap)

    async def __aenter__(self) -> Submitter:
        await started(self._producer)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def submit(self, event: dict[str, Any]) -> str:
        events.validate(event)
        partition = partition_for_priority(event["request"]["priority"])
        await self._producer.send_and_wait(
            self.topics.videos, orjson.dumps(event), key=event["job_id"].encode(), partition=partition
        )
        return event["job_id"]

    async def publish_log_event(self, event: dict[str, Any]) -> None:
        """A job_cancel (or other job-status log event) on the job-status topic, keyed by its job."""
        events.validate(event)
        await self._producer.send_and_wait(self.topics.job_status, orjson.dumps(event), key=event["job_id"].encode())

    async def send_raw(self, topic: str, value: bytes, partition: int | None = None) -> None:
        """Publish bytes as they are (tests use it for malformed events)."""
        await self._producer.send_and_wait(topic, value, partition=partition)


@dataclass
class JobOutcome:
    job_id: str
    state: str = "queued"
    stage: str = "submit"
    progress: float = 0.0
    clips: list[dict[str, Any]] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    manifest_path: str | None = None
    error: dict[str, str] | None = None

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")


async def started(client: AIOKafkaProducer | AIOKafkaConsumer) -> None:
    """Start an aiokafka client; if the broker is away, close it before the error goes up (else aiokafka
    adds "Unclosed ..." warnings to the one-line error the user sees)."""
    try:
        await client.start()
    except BaseException:
        await client.stop()
        raise


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The partitions of ``topic``, waiting up to ~5 s for the metadata; one-line error if it does not exist."""
    ids = consumer.partitions_for_topic(topic)
    for _ in range(50):
        if ids:
            break
        await consumer.topics()  # refreshes the metadata of every topic
        ids = consumer.partitions_for_topic(topic)
        await asyncio.sleep(0.1)
    if not ids:
        raise TransientError(f"topic {topic} does not exist: run `streamapp topics create`", code="broker_unavailable")
    return [TopicPartition(topic, p) for p in sorted(ids)]


class Follower:
    """Reads job-status and result events from now on (no consumer group, so it joins nothing)."""

    def __init__(self, bootstrap: str, topics: Topics) -> None:
        self.topics = topics
        self._consumer = clients.reader(bootstrap)

    async def __aenter__(self) -> Follower:
        await started(self._consumer)
        partitions = []
        for topic in (self.topics.job_status, self.topics.results):
            partitions += await topic_partitions(self._consumer, topic)
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for tp in partitions:  # pin the positions now, before anything is submitted
            await self._consumer.position(tp)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        async for message in self._consumer:
            try:
                yield events.decode(message.value or b"", 64 * 1024 * 1024)
            except events.EventError:
                continue

    async def follow(self, outcomes: dict[str, JobOutcome], on_change: Any = None) -> None:
        """Update ``outcomes`` from events until every job in it has finished."""
        if all(o.finished for o in outcomes.values()):
            return
        async for event in self.events():
            outcome = outcomes.get(event.get("job_id", ""))
            if outcome is None or outcome.finished:
                continue
            apply_event(outcome, event)
            if on_change is not None:
                on_change(outcome, event)
            if all(o.finished for o in outcomes.values()):
                return


def apply_event(outcome: JobOutcome, event: dict[str, Any]) -> None:
    kind = event["type"]
    if kind == "job_status":
        # The result event ends a job, with its payload; a replayed "queued" never moves a job back.
        if event["state"] not in ("done", "failed") and RANK[event["state"]] >= RANK.get(outcome.state, 0):
            outcome.state, outcome.stage, outcome.progress = event["state"], event["stage"], event["progress"]
    elif kind == "clip_ready":
        outcome.clips.append(event["clip"])
    elif kind == "job_done":
        outcome.state, outcome.manifest, outcome.manifest_path = "done", event["manifest"], event["manifest_path"]
    elif kind == "job_failed":
        outcome.state, outcome.error = "failed", event["error"]
        outcome.stage = event.get("stage", outcome.stage)


async def read_job_record(bootstrap: str, topics: Topics, job_id: str, timeout_s: float = 5.0) -> dict[str, Any] | None:
    """A job's record folded from its whole log, as the jobs table would hold it once caught up; None when the
    log has no event of the job (or the job has expired). Reads only the job's partition, from its start to the
    end it had when reading began, so the answer is never older than anything published before the call."""
    consumer = clients.reader(bootstrap, auto_offset_reset="earliest")
    await started(consumer)
    folded: dict[str, dict[str, Any]] = {}
    key = job_id.encode()
    try:
        parts = await topic_partitions(consumer, topics.job_status)
        tp = TopicPartition(topics.job_status, job_partition(job_id, len(parts)))
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        deadline = time.monotonic() + timeout_s
        while await consumer.position(tp) < end:
            if time.monotonic() > deadline:
                raise TransientError(f"reading the job log of {job_id} took over {timeout_s:.0f} s",
                                     code="broker_unavailable")
            for messages in (await consumer.getmany(tp, timeout_ms=200)).values():
                for message in messages:
                    if message.key == key and message.offset < end:
                        with contextlib.suppress(events.EventError, KeyError):
                            fold_into(folded, events.decode(message.value or b"", 64 * 1024 * 1024))
    finally:
        await consumer.stop()
    return folded.get(job_id)


async def cancel_jobs(bootstrap: str, topics: Topics, job_ids: list[str], reason: str | None = None,
                      wait_s: float = 0.0) -> dict[str, str]:
    """Ask for each job to be stopped and, for up to ``wait_s``, watch the jobs end. Per job: "unknown" (not in
    the log), "ended: <state>" (it had ended already), then "cancelled", "done" or "failed: <code>" as it
    ended, or "requested" when it had not ended by then."""
    return await _end_jobs(bootstrap, topics, job_ids, lambda job_id: cancel_request(job_id, reason), wait_s)


async def stop_jobs(bootstrap: str, topics: Topics, job_ids: list[str], wait_s: float = 0.0) -> dict[str, str]:
    """Tell each live job to end its stream now (job_stop); answers as ``cancel_jobs``' ("done" once it has
    ended with its clips)."""
    return await _end_jobs(bootstrap, topics, job_ids, stop_request, wait_s)


async def _end_jobs(bootstrap: str, topics: Topics, job_ids: list[str],
                    request: Callable[[str], dict[str, Any]], wait_s: float) -> dict[str, str]:
    answers: dict[str, str] = {}
    outcomes: dict[str, JobOutcome] = {}
    for job_id in job_ids:
        record = await read_job_record(bootstrap, topics, job_id)
        if record is None:
            answers[job_id] = "unknown"
        elif record["state"] in ("done", "failed"):
            answers[job_id] = f"ended: {record['state']}"
        else:
            outcomes[job_id] = JobOutcome(job_id, state=record["state"], stage=record["stage"])
    if not outcomes:
        return answers
    async with Follower(bootstrap, topics) as follower, Submitter(bootstrap, topics) as submitter:
        for job_id in outcomes:  # the follower reads from before the requests: no end is missed
            await submitter.publish_log_event(request(job_id))
        if wait_s > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await follower.follow(outcomes)
    for job_id, outcome in outcomes.items():
        if not outcome.finished and wait_s > 0:  # it may have ended between the first read and the follower
            record = await read_job_record(bootstrap, topics, job_id) or {}
            if record.get("state") in ("done", "failed"):
                outcome.state, outcome.error = record["state"], record.get("error")
        if not outcome.finished:
            answers[job_id] = "requested"
        elif outcome.state == "done":
            answers[job_id] = "done"
        else:
            code = (outcome.error or {}).get("code", "")
            answers[job_id] = "cancelled" if code == "cancelled" else f"failed: {code}"
    return answers


async def edit_clip(bootstrap: str, topics: Topics, job_id: str, clip_id: str, changes: dict[str, Any],
                    wait_s: float = 0.0, poll_s: float = 0.5) -> dict[str, Any]:
    """Ask for a done job's clip to be rendered again with ``changes`` (checked clip_edit fields) and, for up to
    ``wait_s``, watch the job's record for the outcome. Returns the edit as the record shows it ({edit_id, state:
    pending|done|failed, version, file, error}), or {"state": "unknown"} / {"state": "not_done", "job_state"}
    when the job cannot be edited."""
    record = await read_job_record(bootstrap, topics, job_id)
    if record is None:
        return {"state": "unknown"}
    if record["state"] != "done":
        return {"state": "not_done", "job_state": record["state"]}
    event = edit_request(job_id, clip_id, changes)
    async with Submitter(bootstrap, topics) as submitter:
        await submitter.publish_log_event(event)
    pending = {"edit_id": event["edit_id"], "clip_id": clip_id, "state": "pending"}
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        await asyncio.sleep(poll_s)
        record = await read_job_record(bootstrap, topics, job_id) or {}
        edit = next((e for e in record.get("edits", []) if e["edit_id"] == event["edit_id"]), None)
        if edit is not None and edit["state"] != "pending":
            return edit
    return pending
