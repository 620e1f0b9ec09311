"""What a worker publishes and how it takes events in: one place for its Faust topics.

``Publisher.send`` validates every event against its schema, keeps the promise that nothing non-terminal goes
out for a job that has ended, and refuses events no agent would accept. ``accept`` decodes and validates what an
agent reads; an invalid event goes to the dead-letter topic with the reason and is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import faust
import orjson

from streamapp import events, metrics
from streamapp.app import jobs as job_records
from streamapp.app.scheduler import one_line
from streamapp.errors import EventError, StreamappError, TransientError
from streamapp.settings import Settings
from streamapp.transport.topics import Topics

log = logging.getLogger("streamapp.worker")

# Each role's topic (the name a sender uses) from the deployment's topic names.
ROLES: dict[str, Callable[[Topics], str]] = {
    "videos": lambda t: t.videos,
    "extracted": lambda t: t.extracted,
    "scored": lambda t: t.scored,
    "job_status": lambda t: t.job_status,
    "results": lambda t: t.results,
    "segments": lambda t: t.segments,
    "dead_letter": lambda t: t.dead_letter,
    "metrics": lambda t: t.metrics,
    "ops": lambda t: t.ops,
}


class Publisher:
    """The worker's topics by role, and its sends. ``record_of`` gives a job's record in this worker's table."""

    def __init__(self, app: faust.App, settings: Settings, record_of: Callable[[str], dict[str, Any] | None]) -> None:
        raw = {"key_serializer": "raw", "value_serializer": "raw"}
        self.settings = settings
        self.channels = {role: app.topic(name(settings.topics), **raw) for role, name in ROLES.items()}
        self.ended = job_records.EndedJobs()
        self._record_of = record_of
        self._locks: dict[str, asyncio.Lock] = {}  # job id -> the lock its sends take (while any waits)

    def after_end(self, event: dict[str, Any]) -> bool:
        """A non-terminal status for a job that has ended: published, it would move the log backwards."""
        if event.get("type") != "job_status" or event["state"] in job_records.TERMINAL:
            return False
        record = self._record_of(event["job_id"])
        return event["job_id"] in self.ended or bool(record and record["state"] in job_records.TERMINAL)

    async def send(self, role: str, event: dict[str, Any], key: str | None = None, delivered: bool = False) -> None:
        events.validate(event)
        value = orjson.dumps(event)
        limit = self.settings.max_event_bytes
        if len(value) > limit:  # no agent would accept it: fail the job, not the log
            raise EventError(f"{event['type']} event of {len(value)} bytes exceeds the {limit}-byte limit",
                             code="event_too_large")
        topic = self.channels[role]
        key = key or event.get("job_id") or event.get("worker_id", "")
        job_id = event.get("job_id")
        # One job's events are checked and handed to the producer one at a time: a progress report checked before
        # the job's end but handed over after it would land after the end in the log (seen in a scale-out run).
        lock = self._locks.setdefault(job_id, asyncio.Lock()) if job_id else contextlib.nullcontext()
        async with lock:
            if self.after_end(event):
                log.info("job %s has ended; not publishing %s %s", job_id, event["state"], event["stage"])
                return
            if job_records.ends_job(event):  # from now on, nothing non-terminal goes out for this job
                self.ended.note(job_id)
            pending = await topic.send(key=key.encode(), value=value)
        if job_id and isinstance(lock, asyncio.Lock) and not lock.locked() and not getattr(lock, "_waiters", None):
            self._locks.pop(job_id, None)
        if delivered:  # wait for the broker's acknowledgement, not just the producer's buffer
            await pending
        metrics.EVENTS.labels(topic.get_topic_name(), "out").inc()

    async def send_reliably(self, role: str, event: dict[str, Any], key: str | None = None,
                            delivered: bool = False) -> None:
        """Agents' sends: the consumed event is acknowledged afterwards, so keep trying rather than lose it."""
        for attempt in range(1, 31):
            try:
                return await self.send(role, event, key, delivered)
            except EventError:
                raise
            except Exception as exc:  # the broker is away: wait and try again
                delay = min(10.0, 0.2 * 2**attempt)
                log.warning("sending to %s failed (%s); retrying in %.1f s", role, one_line(exc)["message"], delay)
                await asyncio.sleep(delay)
        raise TransientError(f"could not send to {role}", code="broker_unavailable")

    async def resend(self, role: str, key: bytes | None, value: bytes | None, partition: int) -> None:
        """An event as it was read, unchanged, to ``partition`` of the role's topic (delivered)."""
        await (await self.channels[role].send(key=key, value=value, partition=partition))

    async def accept(self, topic: str, partition: int, offset: int, value: bytes | None) -> dict[str, Any] | None:
        """Decode and validate; an invalid event goes to the dead-letter topic and is skipped (None)."""
        metrics.EVENTS.labels(topic, "in").inc()
        limit = self.settings.max_event_bytes
        try:
            return events.decode(value or b"", limit)
        except StreamappError as exc:
            # A quarter of the size limit keeps the dead letter itself under it.
            raw_value = (value or b"")[: limit // 4].decode("utf-8", "replace")
            dead = {"schema_version": events.SCHEMA_VERSION, "type": "dead_letter", "topic": topic,
                    "partition": partition, "offset": offset, "reason": str(exc), "value": raw_value}
            await self.send_reliably("dead_letter", dead, key=f"{topic}:{partition}:{offset}")
            metrics.DEAD_LETTERS.labels(topic).inc()
            log.warning("dead-lettered %s[%s]@%s: %s", topic, partition, offset, exc)
            return None
