"""What the agents have applied from their input logs: the scheduler waits until they are caught up before
it chooses, and the worker takes in submissions that Faust never delivered.

Catching up: a submission reaches the jobs table in two hops (videos -> extract agent -> job-status log ->
track-jobs agent -> table). Without the check, a pool slot that frees between the hops goes to a waiting
low-priority job although a high-priority one was submitted before the choice.

Holes: right after a partition is assigned, Faust can hand the agent a later offset and drop an earlier
one (a message fetched before the seek to the committed offset is skipped, and its refetch falls below the
read offset Faust already moved on). A submission lost that way would never become a job. The ledger
sees the gap between the group's offset at assignment and the offsets the agent applied, and ``holes``
names it so the worker can read those offsets itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord

log = logging.getLogger("streamapp.catch_up")


def behind(ends: Mapping[TopicPartition, int], done: Mapping[TopicPartition, int]) -> list[TopicPartition]:
    """Partitions whose log end lies past what has been applied (``done``: the next offset to apply)."""
    return [tp for tp, end in ends.items() if done.get(tp, 0) < end]


@dataclass
class Ledger:
    """The offsets of one partition applied since this worker got it."""

    start: int | None = None  # the group's offset when this worker got the partition (None: not known yet)
    below: int | None = None  # every offset in [start, below) has been applied
    above: set[int] = field(default_factory=set)  # applied offsets past a hole (or all, while start is unknown)

    def mark(self, offset: int) -> None:
        if self.below is not None and offset < self.below:
            return  # a repeat
        self.above.add(offset)
        self._advance()

    def begin(self, start: int) -> None:
        self.start = self.below = start
        self.above = {offset for offset in self.above if offset >= start}
        self._advance()

    def _advance(self) -> None:
        if self.below is None:
            return
        while self.below in self.above:
            self.above.remove(self.below)
            self.below += 1

    @property
    def next(self) -> int:
        """The offset after the highest one applied (or the start)."""
        return max([self.below or 0, *(offset + 1 for offset in self.above)])

    def hole(self) -> tuple[int, int] | None:
        """The first run of offsets [from, to) skipped while a later one was applied."""
        if self.below is None or not self.above:
            return None
        return self.below, min(self.above)


class AppliedOffsets:
    """Agents ``mark`` each event once applied; ``wait`` returns once the marks reach the log ends read
    at its start (True), or when ``timeout_s`` runs out (False)."""

    def __init__(self, bootstrap: str, group_id: str, partitions: Callable[[], Iterable[tuple[str, int]]]) -> None:
        self._bootstrap = bootstrap
        self._group_id = group_id
        self._partitions = partitions
        self._ledgers: dict[TopicPartition, Ledger] = {}
        # Where the group's consumer started each partition this worker holds: events before it were
        # applied by whoever held the partition then, and never pass through this worker's agents.
        self._start: dict[TopicPartition, int] = {}
        self._suspects: set[tuple[TopicPartition, int, int]] = set()
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None

    def mark(self, topic: str, partition: int, offset: int) -> None:
        self._ledgers.setdefault(TopicPartition(topic, partition), Ledger()).mark(offset)

    async def assigned(self, partitions: Iterable[tuple[str, int]]) -> None:
        """Call when partitions are (re)assigned, before their events flow: reads where the group stands."""
        held = {TopicPartition(topic, partition) for topic, partition in partitions}
        for memo in (self._ledgers, self._start):
            for tp in [tp for tp in memo if tp not in held]:
                memo.pop(tp)
        new = [tp for tp in held if tp not in self._start]
        if not new:
            return
        try:
            starts = await self._committed(new)
        except Exception as exc:  # holes before the first applied offset go unseen this time
            log.warning("could not read the group's offsets: %s", exc)
            await self.close()
            return
        self._start.update(starts)
        for tp, start in starts.items():
            self._ledgers.setdefault(tp, Ledger()).begin(start)
        log.info("taking over %s", ", ".join(f"{tp.topic}[{tp.partition}] at {start}"
                                               for tp, start in sorted(starts.items())))

    def settle(self, tp: TopicPartition, first: int, stop: int) -> None:
        """Offsets [first, stop) were read and taken in by hand (an offset without a record counts too)."""
        ledger = self._ledgers.setdefault(tp, Ledger())
        for offset in range(first, stop):
            ledger.mark(offset)

    def holes(self, topic: str) -> list[tuple[TopicPartition, int, int]]:
        """Runs of offsets of ``topic`` skipped while later ones were applied, seen on this call and the one
        before (a refetch in flight gets one interval to arrive)."""
        now = {(tp, *hole) for tp, ledger in self._ledgers.items()
               if tp.topic == topic and (hole := ledger.hole()) is not None}
        lasting, self._suspects = now & self._suspects, now
        return sorted(lasting)

    async def read(self, tp: TopicPartition, first: int, stop: int, timeout_s: float = 10.0) -> list[ConsumerRecord]:
        """The records of offsets [first, stop) of one partition, read outside the consumer group."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False)
        await consumer.start()
        found: list[ConsumerRecord] = []
        try:
            consumer.assign([tp])
            consumer.seek(tp, first)
            async with asyncio.timeout(timeout_s):
                while await consumer.position(tp) < stop:
                    for records in (await consumer.getmany(tp, timeout_ms=500)).values():
                        found += [r for r in records if first <= r.offset < stop]
        finally:
            await consumer.stop()
        return found

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
        if not held:
            return True
        ends = await self._end_offsets(held)
        unknown = [tp for tp in held if tp not in self._start]
        if unknown:
            self._start.update(await self._committed(unknown))
        while True:
            done = {tp: max(self._ledgers[tp].next if tp in self._ledgers else 0, self._start.get(tp, 0))
                    for tp in held}
            if not behind(ends, done):
                return True
            await asyncio.sleep(0.02)

    async def _end_offsets(self, partitions: set[TopicPartition]) -> dict[TopicPartition, int]:
        return await (await self._offsets_client()).end_offsets(sorted(partitions))

    async def _offsets_client(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False)
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def _committed(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
            await admin.start()
            self._admin = admin
        offsets = await self._admin.list_consumer_group_offsets(self._group_id, partitions=partitions)
        committed = {tp: meta.offset for tp, meta in offsets.items() if meta is not None and meta.offset >= 0}
        fresh = [tp for tp in partitions if tp not in committed]
        if fresh:  # the group never committed here: it reads from the log's first offset (retention may have moved it)
            committed.update(await (await self._offsets_client()).beginning_offsets(fresh))
        return committed

    async def close(self) -> None:
        consumer, admin, self._consumer, self._admin = self._consumer, self._admin, None, None
        with contextlib.suppress(Exception):
            if consumer is not None:
                await consumer.stop()
        with contextlib.suppress(Exception):
            if admin is not None:
                await admin.close()
