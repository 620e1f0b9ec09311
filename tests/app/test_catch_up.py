"""The scheduler's catch-up check: pure comparison, then the offsets of a real broker's log."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streamapp.app.catch_up import AppliedOffsets, behind
from streamapp.transport.admin import ensure_topics
from streamapp.transport.topics import TopicSpec

A0, A1 = TopicPartition("a", 0), TopicPartition("a", 1)


def test_behind_names_partitions_whose_log_end_is_past_what_was_applied() -> None:
    assert behind({A0: 3, A1: 0}, {A0: 3}) == []
    assert behind({A0: 3, A1: 2}, {A0: 2, A1: 2}) == [A0]
    assert behind({A0: 1}, {}) == [A0]


@pytest.mark.integration
def test_wait_follows_marks_and_the_groups_starting_offset(bootstrap: str) -> None:
    topic, group = f"catch-up-{uuid.uuid4().hex[:8]}", f"group-{uuid.uuid4().hex[:8]}"
    tp1 = TopicPartition(topic, 1)

    async def scenario() -> list[bool]:
        await ensure_topics(bootstrap, [TopicSpec(topic, 2)])
        async with AIOKafkaProducer(bootstrap_servers=bootstrap) as producer:
            for i in range(3):
                await producer.send_and_wait(topic, b"x%d" % i, partition=0)
            await producer.send_and_wait(topic, b"y", partition=1)
        # The group already read partition 1 (an earlier holder applied it): only partition 0 is ours to apply.
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([tp1])
            await consumer.commit({tp1: 1})
        finally:
            await consumer.stop()
        held = [(topic, 0), (topic, 1)]
        offsets = AppliedOffsets(bootstrap, group, lambda: held)
        try:
            answers = [await offsets.wait(0.5)]              # nothing applied on partition 0
            offsets.mark(topic, 0, 1)
            answers.append(await offsets.wait(0.5))          # offset 2 is still to apply
            later = asyncio.get_running_loop().call_later(0.2, offsets.mark, topic, 0, 2)
            answers.append(await offsets.wait(5.0))          # returns once the last one is marked
            later.cancel()
            held.pop()                                       # a partition given away no longer counts
            answers.append(await offsets.wait(0.5))
        finally:
            await offsets.close()
        return answers

    assert asyncio.run(scenario()) == [False, False, True, True]
