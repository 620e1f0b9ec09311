"""Declare topics up front, on Tansu and on Apache Kafka alike."""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from streamapp.errors import TransientError
from streamapp.transport import clients
from streamapp.transport.topics import TopicSpec


async def ensure_topics(bootstrap: str, specs: list[TopicSpec], timeout_s: float = 30.0,
                        replication: int = 1) -> list[str]:
    """Create the topics that do not exist yet; return the names created."""
    admin = clients.admin(bootstrap, timeout_s)
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            if asyncio.get_running_loop().time() > deadline:
                raise TransientError(f"broker {bootstrap} does not answer", code="broker_unavailable") from None
            await asyncio.sleep(0.5)
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker won the race
                await admin.create_topics(
                    [NewTopic(spec.name, spec.partitions, replication,
                              topic_configs={"cleanup.policy": "compact"} if spec.compact else {})
                     for spec in missing],
                    timeout_ms=int(timeout_s * 1000),
                )
        return [spec.name for spec in missing]
    finally:
        await admin.close()


async def partition_counts(bootstrap: str, topics: list[str], timeout_s: float = 10.0) -> dict[str, int]:
    """How many partitions each topic has (0 when it does not exist)."""
    admin = clients.admin(bootstrap, timeout_s)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    counts = dict.fromkeys(topics, 0)
    for entry in described:
        if entry.get("topic") in counts and not entry.get("error_code"):
            counts[entry["topic"]] = len(entry.get("partitions") or ())
    return counts


async def partition_count(bootstrap: str, topic: str, timeout_s: float = 10.0) -> int:
    """How many partitions ``topic`` has (0 when it does not exist)."""
    return (await partition_counts(bootstrap, [topic], timeout_s))[topic]
