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
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord

from streamapp.transport import clients

log = logging.getLogger("streamapp.catch_up")


def behind(ends: Mapping[TopicPartition, int], done: Mapping[TopicPartition, int]) -> list[TopicPartition]:
    """Partitions whose log end lies past what has been applied (``done``: the next offset to apply)."""
    return [tp for tp, end in ends.items() if done.get(tp, 0) < end]


@dataclass
class Ledger:
    """The offsets of one partition applied since this worker got it."""

    below: int | None = None  # every offset from the group's offset at assignment up to here was applied
                              # (None: that offset is not known yet)
    above: set[int] = field(default_factory=set)  # applied offsets past a hole (or all, while start is unknown)

    def mark(self, offset: int) -> None:
        if self.below is not None and offset < self.below:
            return  # a repeat
        self.above.add(offset)
        self._advance()

    def begin(self, start: int) -> None:
        self.below = start
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
    """Agents ``mark`` each event once applied; ``wait`` returns once the marks reach the log ends (True),
    or when ``timeout_s`` runs out (False). ``upstream`` names the topic whose events, once applied, add
    events to the others (submissions become job-status events): it is waited on first."""

    def __init__(self, bootstrap: str, group_id: str, partitions: Callable[[], Iterable[tuple[str, int]]],
                 upstream: str | None = None, settle_s: float = 2.0) -> None:
        self._bootstrap = bootstrap
        self._group_id = group_id
        self._partitions = partitions
        self._upstream = upstream
        self._ledgers: dict[TopicPartition, Ledger] = {}
        self._suspects: dict[str, set[tuple[TopicPartition, int, int]]] = {}
        # Holes of partitions given away before they were recovered: reading a log needs no ownership.
        self._orphans: set[tuple[TopicPartition, int, int]] = set()
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        # Partitions whose marks reached the log end read after this worker got them: their table view
        # holds every event written before it took over (a job's end included).
        self._reached: set[TopicPartition] = set()
        # A partition counts as caught up only ``settle_s`` after this worker got it: its previous owner
        # stops its jobs when it learns of the same assignment, and its last sends may still be in flight.
        self._settle_s = settle_s
        self._assigned_at: dict[TopicPartition, float] = {}
        self._progress: dict[TopicPartition, int] = {}  # each held partition's next offset at the last stall check
        # Partitions taken over whose log below the group's offset then (the value) is still to be checked against
        # the table (``takeovers``): the agent never reads those events, the table has them from its changelog.
        self._unchecked: dict[TopicPartition, int] = {}

    def mark(self, topic: str, partition: int, offset: int) -> None:
        self._ledgers.setdefault(TopicPartition(topic, partition), Ledger()).mark(offset)

    async def assigned(self, partitions: Iterable[tuple[str, int]]) -> None:
        """Call when partitions are (re)assigned, before their events flow: reads where the group stands."""
        held = {TopicPartition(topic, partition) for topic, partition in partitions}
        self._reached &= held
        now = time.monotonic()
        self._assigned_at = {tp: self._assigned_at.get(tp, now) for tp in held}
        self._unchecked = {tp: start for tp, start in self._unchecked.items() if tp in held}
        for tp in [tp for tp in self._ledgers if tp not in held]:
            ledger = self._ledgers.pop(tp)
            if (hole := ledger.hole()) is not None:
                self._orphans.add((tp, *hole))
        try:
            await self._begin(held)
        except Exception as exc:  # holes before the first applied offset go unseen until the next try
            log.warning("could not read the group's offsets: %s", exc)
            await self.close()

    async def _begin(self, partitions: Iterable[TopicPartition]) -> None:
        """Start the ledgers of these partitions that have none yet at the group's committed offset."""
        new = [tp for tp in partitions if tp not in self._ledgers or self._ledgers[tp].below is None]
        if not new:
            return
        starts = await self._committed(new)
        for tp, start in starts.items():
            self._ledgers.setdefault(tp, Ledger()).begin(start)
            self._unchecked[tp] = start
        log.info("taking over %s", ", ".join(f"{tp.topic}[{tp.partition}] at {start}"
                                               for tp, start in sorted(starts.items())))

    def takeovers(self, topic: str) -> dict[TopicPartition, int]:
        """Held partitions of ``topic`` taken over whose log before the offset the group stood at then (the value)
        is still to be checked against the table; ``checked`` once done."""
        return {tp: start for tp, start in self._unchecked.items() if tp.topic == topic}

    def checked(self, tp: TopicPartition) -> None:
        self._unchecked.pop(tp, None)

    def settle(self, tp: TopicPartition, first: int, stop: int) -> None:
        """Offsets [first, stop) were read and taken in by hand (an offset without a record counts too)."""
        self._orphans.discard((tp, first, stop))
        if (ledger := self._ledgers.get(tp)) is not None:
            for offset in range(first, stop):
                ledger.mark(offset)

    def holes(self, topic: str) -> list[tuple[TopicPartition, int, int]]:
        """Runs of offsets of ``topic`` skipped while later ones were applied, seen on this call and the one
        before (a refetch in flight gets one interval to arrive), and those of partitions given away."""
        now = {(tp, *hole) for tp, ledger in self._ledgers.items()
               if tp.topic == topic and (hole := ledger.hole()) is not None}
        lasting = now & self._suspects.get(topic, set())
        self._suspects[topic] = now
        return sorted(lasting | {orphan for orphan in self._orphans if orphan[0].topic == topic})

    async def read(self, tp: TopicPartition, first: int, stop: int, timeout_s: float = 10.0) -> list[ConsumerRecord]:
        """The records of offsets [first, stop) of one partition, read outside the consumer group."""
        consumer = clients.reader(self._bootstrap, auto_offset_reset="earliest")
        found: list[ConsumerRecord] = []
        try:
            await consumer.start()
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
        await self._begin(held)
        # Upstream first: applying a submission publishes its job-status event (delivered before the mark),
        # so the job-status log ends are read only once no submission is left to apply.
        upstream = {tp for tp in held if tp.topic == self._upstream}
        for phase in (upstream, held - upstream):
            if not phase:
                continue
            ends = await (await self._offsets_client()).end_offsets(sorted(phase))
            # Behind now means not caught up, whatever it was before: the agent may have stalled on it since.
            # Caught up counts only what was applied without a gap (a skipped event is still on its way back).
            self._reached -= set(behind(ends, self._contiguous(phase)))
            while behind(ends, {tp: self._ledgers[tp].next for tp in phase if tp in self._ledgers}):
                self._reached |= phase - set(behind(ends, self._contiguous(phase)))
                await asyncio.sleep(0.02)
            self._reached |= phase - set(behind(ends, self._contiguous(phase)))
        return True

    def _contiguous(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """Per partition, the offset up to which every event was applied (no hole)."""
        return {tp: self._ledgers[tp].below or 0 for tp in partitions if tp in self._ledgers}

    async def stalled(self, topics: Iterable[str], held_for_s: float) -> list[TopicPartition]:
        """Partitions of ``topics`` held for ``held_for_s`` or more whose agent has applied nothing since the last
        call although their log holds more: their fetch has stopped (see faust_fixes.resume_fetching)."""
        now = time.monotonic()
        held = [tp for tp in self._ledgers if tp.topic in set(topics)
                and now - self._assigned_at.get(tp, now) >= held_for_s and self._ledgers[tp].below is not None]
        if not held:
            self._progress = {}
            return []
        ends = await (await self._offsets_client()).end_offsets(held)
        progress = {tp: self._ledgers[tp].next for tp in held}
        stuck = [tp for tp in held if progress[tp] < ends.get(tp, 0) and self._progress.get(tp) == progress[tp]]
        self._progress = progress
        return stuck

    def next_offset(self, tp: TopicPartition) -> int | None:
        """The first offset of ``tp`` this worker's agent has not applied (None: not known yet)."""
        ledger = self._ledgers.get(tp)
        return None if ledger is None else ledger.next

    def reached(self, topic: str, partition: int) -> bool:
        """Whether this worker, holding the partition for ``settle_s`` at least, had applied every event its
        log held at the last check."""
        tp = TopicPartition(topic, partition)
        settled = time.monotonic() - self._assigned_at.get(tp, -math.inf) >= self._settle_s
        return settled and tp in self._reached

    async def _offsets_client(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            # Kept before start(): a wait cancelled mid-start still leaves it for close() to stop.
            self._consumer = clients.reader(self._bootstrap)
            await self._consumer.start()
        return self._consumer

    async def _committed(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        if self._admin is None:
            self._admin = clients.admin(self._bootstrap)
            await self._admin.start()
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
