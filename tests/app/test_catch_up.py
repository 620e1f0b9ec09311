"""The scheduler's catch-up check: pure comparison, then the offsets of a real broker's log."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from streamapp.app.catch_up import AppliedOffsets, Ledger, behind
from streamapp.transport.admin import ensure_topics
from streamapp.transport.topics import TopicSpec
from tests.conftest import commit_group_offset

A0, A1 = TopicPartition("a", 0), TopicPartition("a", 1)


def test_behind_names_partitions_whose_log_end_is_past_what_was_applied() -> None:
    assert behind({A0: 3, A1: 0}, {A0: 3}) == []
    assert behind({A0: 3, A1: 2}, {A0: 2, A1: 2}) == [A0]
    assert behind({A0: 1}, {}) == [A0]


def test_ledger_finds_the_run_skipped_before_a_later_offset() -> None:
    ledger = Ledger()
    ledger.mark(13)                  # Faust delivered 13 before this worker knew where the group stood
    assert ledger.hole() is None     # no start yet: nothing to compare with
    ledger.begin(12)
    assert ledger.hole() == (12, 13) and ledger.next == 14
    ledger.mark(12)
    assert ledger.hole() is None and ledger.next == 14
    ledger.mark(16)
    assert ledger.hole() == (14, 16)
    ledger.mark(14)
    ledger.mark(15)
    ledger.mark(3)                   # a repeat from before the start changes nothing
    assert ledger.hole() is None and ledger.next == 17 and ledger.above == set()


def test_ledger_in_order_keeps_no_set() -> None:
    ledger = Ledger()
    ledger.begin(0)
    for offset in range(1000):
        ledger.mark(offset)
    assert ledger.below == 1000 and ledger.above == set()


@pytest.mark.integration
@pytest.mark.consumer_groups
def test_a_skipped_submission_is_named_and_read_back(bootstrap: str) -> None:
    topic, group = f"holes-{uuid.uuid4().hex[:8]}", f"group-{uuid.uuid4().hex[:8]}"
    tp = TopicPartition(topic, 0)

    async def scenario() -> tuple[list, list, list, list[bytes], list]:
        await ensure_topics(bootstrap, [TopicSpec(topic, 1)])
        async with AIOKafkaProducer(bootstrap_servers=bootstrap) as producer:
            for i in range(4):
                await producer.send_and_wait(topic, b"v%d" % i, partition=0)
        offsets = AppliedOffsets(bootstrap, group, lambda: [(topic, 0)])
        try:
            await offsets.assigned([(topic, 0)])  # the group never committed: it starts at the log's start
            for offset in (0, 2, 3):              # offset 1 never reached the agent
                offsets.mark(topic, 0, offset)
            first, second = offsets.holes(topic), offsets.holes(topic)  # a hole must last one interval
            other = offsets.holes("another-topic")    # each topic keeps its own suspects
            records = await offsets.read(tp, 1, 2)
            offsets.settle(tp, 1, 2)
            after = offsets.holes(topic) + offsets.holes(topic)
            assert other == [] and offsets.holes(topic) == []
            # A partition given away before its hole was recovered: the hole is still named, at once.
            offsets.mark(topic, 0, 5)
            await offsets.assigned([])
            after += [("given away", *hole) for hole in offsets.holes(topic)]
        finally:
            await offsets.close()
        return first, second, [r.offset for r in records], [r.value for r in records], after

    first, second, read_offsets, values, after = asyncio.run(scenario())
    assert first == [] and second == [(tp, 1, 2)]
    assert read_offsets == [1] and values == [b"v1"]
    assert after == [("given away", tp, 4, 5)]


@pytest.mark.integration
@pytest.mark.consumer_groups
def test_wait_follows_marks_and_the_groups_starting_offset(bootstrap: str) -> None:
    topic, group = f"catch-up-{uuid.uuid4().hex[:8]}", f"group-{uuid.uuid4().hex[:8]}"
    tp1 = TopicPartition(topic, 1)

    reached: list[tuple[bool, bool]] = []

    async def scenario() -> list[bool]:
        await ensure_topics(bootstrap, [TopicSpec(topic, 2)])
        async with AIOKafkaProducer(bootstrap_servers=bootstrap) as producer:
            for i in range(3):
                await producer.send_and_wait(topic, b"x%d" % i, partition=0)
            await producer.send_and_wait(topic, b"y", partition=1)
        # The group already read partition 1 (an earlier holder applied it): only partition 0 is ours to apply.
        await commit_group_offset(bootstrap, group, tp1, 1)
        held = [(topic, 0), (topic, 1)]
        offsets = AppliedOffsets(bootstrap, group, lambda: held, settle_s=0.0)
        try:
            answers = [await offsets.wait(0.5)]              # nothing applied on partition 0
            reached.append((offsets.reached(topic, 0), offsets.reached(topic, 1)))  # 1 is caught up alone
            offsets.mark(topic, 0, 0)
            offsets.mark(topic, 0, 1)
            answers.append(await offsets.wait(0.5))          # offset 2 is still to apply
            later = asyncio.get_running_loop().call_later(0.2, offsets.mark, topic, 0, 2)
            answers.append(await offsets.wait(5.0))          # returns once the last one is marked
            reached.append((offsets.reached(topic, 0), offsets.reached(topic, 1)))
            later.cancel()
            held.pop()                                       # a partition given away no longer counts
            answers.append(await offsets.wait(0.5))
            await offsets.assigned(held)                     # ... nor is it caught up if it comes back
            reached.append((offsets.reached(topic, 0), offsets.reached(topic, 1)))
        finally:
            await offsets.close()
        return answers

    assert asyncio.run(scenario()) == [False, False, True, True]
    assert reached == [(False, True), (True, True), (True, False)]


def test_a_partition_with_a_skipped_event_is_not_caught_up() -> None:
    """An event Faust skipped is on its way back (republished): until then the table lacks it, so the
    partition's applied run stops before it, whatever later offsets were applied."""
    ledger = Ledger()
    ledger.begin(0)
    for offset in (0, 1, 3, 4):
        ledger.mark(offset)
    assert ledger.next == 5 and ledger.below == 2
    assert behind({TopicPartition("t", 0): 5}, {TopicPartition("t", 0): ledger.below}) == [TopicPartition("t", 0)]


def test_a_partition_that_applies_nothing_while_its_log_grows_is_stalled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two checks in a row without progress while the log holds more: stalled. Progress, or a log that holds
    nothing more, is not; nor is a partition held for less than the time asked."""
    moving, stuck, idle = (TopicPartition("t.job-status", p) for p in range(3))
    ends = {moving: 10, stuck: 10, idle: 4}

    class Ends:
        async def end_offsets(self, tps):  # noqa: ANN001, ANN202
            return {tp: ends[tp] for tp in tps}

    applied = AppliedOffsets("unused:9092", "g", lambda: [])
    monkeypatch.setattr(applied, "_offsets_client", lambda: asyncio.sleep(0, Ends()))
    clock = [100.0]
    monkeypatch.setattr("streamapp.app.catch_up.time.monotonic", lambda: clock[0])
    for tp in (moving, stuck, idle):
        applied._ledgers[tp] = Ledger()
        applied._ledgers[tp].begin(0)
        applied._assigned_at[tp] = 100.0
        for offset in range(4):
            applied.mark(tp.topic, tp.partition, offset)
    assert asyncio.run(applied.stalled(["t.job-status"], held_for_s=10.0)) == []  # held for 0 s
    clock[0] = 111.0
    assert asyncio.run(applied.stalled(["t.job-status"], held_for_s=10.0)) == []  # a first look: no history yet
    applied.mark("t.job-status", 0, 4)
    clock[0] = 121.0
    assert asyncio.run(applied.stalled(["t.job-status"], held_for_s=10.0)) == [stuck]


def test_resume_fetching_puts_a_partition_back_in_faust_active_set() -> None:
    from faust.types import TP

    from streamapp.app.faust_fixes import resume_fetching

    tp = TP("t.job-status", 3)

    class Consumer:
        _active_partitions: set = set()
        _paused_partitions: set = {tp}
        _buffered_partitions: set = {tp}

        def assignment(self) -> set:
            return {tp}

        def resume_partitions(self, tps) -> None:  # noqa: ANN001 - Faust's: into the active set, out of paused
            self._active_partitions.update(tps)
            self._paused_partitions.difference_update(tps)

    consumer = Consumer()
    state = resume_fetching(consumer, tp)
    assert state == "active=False paused=True buffered=True assigned=True read_offset=None"
    assert tp in consumer._active_partitions and not consumer._paused_partitions and not consumer._buffered_partitions
