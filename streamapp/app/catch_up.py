"""Whether the agents have applied every event already in their logs, so the scheduler chooses from a
complete jobs table.

A submission reaches the jobs table in two hops (videos -> extract agent -> job-status log -> track-jobs
agent -> table). Without this check, a pool slot that frees between the hops goes to a waiting
low-priority job although a high-priority one was submitted before the choice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

log = logging.getLogger("streamapp.catch_up")


def behind(ends: Mapping[TopicPartition, int], done: Mapping[TopicPartition, int]) -> list[TopicPartition]:
    """Partitions whose log end lies past what has been applied (``done``: the next offset to apply)."""
    return [tp for tp, end in ends.items() if done.get(tp, 0) < end]


class AppliedOffsets:
    """Agents ``mark`` each event once applied; ``wait`` returns once the marks reach the log ends read
    at its start (True), or when ``timeout_s`` runs out (False)."""

    def __init__(self, bootstrap: str, group_id: str, partitions: Callable[[], Iterable[tuple[str, int]]]) -> None:
        self._bootstrap = bootstrap
        self._group_id = group_id
        self._partitions = partitions
        self._next: dict[TopicPartition, int] = {}
        # Where the group's consumer started each partition this worker holds: events before it were
        # applied by whoever held the partition then, and never pass through this worker's agents.
        self._start: dict[TopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None

    def mark(self, topic: str, partition: int, offset: int) -> None:
        tp = TopicPartition(topic, partition)
        self._next[tp] = max(self._next.get(tp, 0), offset + 1)

    async def wait(self, timeout_s: float) -> bool:
        try:
            return await asyncio.wait_for(self._wait(), timeout_s)
        except TimeoutError:
            return False
        except Exception as exc:  # the broker is busy or away: choose with what the table holds
            log.debug("catch-up check failed: %s", exc)
            await self.close()
            return False

    async def _wait(self) -> bool:
        held = {TopicPartition(topic, partition) for topic, partition in self._partitions()}
        for memo in (self._next, self._start):  # a partition that left and came back starts afresh
            for tp in [tp for tp in memo if tp not in held]:
                memo.pop(tp)
        if not held:
            return True
        ends = await self._end_offsets(held)
        unknown = [tp for tp in held if tp not in self._start]
        if unknown:
            self._start.update(await self._committed(unknown))
        while True:
            done = {tp: max(self._next.get(tp, 0), self._start.get(tp, 0)) for tp in held}
            if not behind(ends, done):
                return True
            await asyncio.sleep(0.02)

    async def _end_offsets(self, partitions: set[TopicPartition]) -> dict[TopicPartition, int]:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False)
            await consumer.start()
            self._consumer = consumer
        return await self._consumer.end_offsets(sorted(partitions))

    async def _committed(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
            await admin.start()
            self._admin = admin
        offsets = await self._admin.list_consumer_group_offsets(self._group_id, partitions=partitions)
        return {tp: (meta.offset if meta is not None and meta.offset >= 0 else 0) for tp, meta in offsets.items()}

    async def close(self) -> None:
        consumer, admin, self._consumer, self._admin = self._consumer, self._admin, None, None
        with contextlib.suppress(Exception):
            if consumer is not None:
                await consumer.stop()
        with contextlib.suppress(Exception):
            if admin is not None:
                await admin.close()
