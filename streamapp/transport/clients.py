"""The only place Kafka clients are built (aiokafka): producers, readers outside any consumer group, admins.

The workers' own consumer group and producer are Faust's (app/worker.py); everything else that talks to the
broker (the CLI's submitter and result reader, the catch-up checks, the lag watcher, the API's read model, topic
creation) gets its client here, so one place says how this project's clients are configured.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient


def producer(bootstrap: str, **options: Any) -> AIOKafkaProducer:
    """A producer that sends at once (no linger: every event here is small and someone waits for it)."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap, **{"linger_ms": 0, **options})


def reader(bootstrap: str, **options: Any) -> AIOKafkaConsumer:
    """A consumer outside any group that commits nothing: it reads partitions it assigns itself."""
    return AIOKafkaConsumer(bootstrap_servers=bootstrap, **{"enable_auto_commit": False, **options})


def admin(bootstrap: str, timeout_s: float | None = None) -> AIOKafkaAdminClient:
    """An admin client (topics, group offsets); ``timeout_s`` bounds each request."""
    extra = {"request_timeout_ms": int(timeout_s * 1000)} if timeout_s else {}
    return AIOKafkaAdminClient(bootstrap_servers=bootstrap, **extra)
