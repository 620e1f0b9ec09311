"""Samples for the optimizer and alerts: system CPU/memory (psutil) and consumer lag per stage (pure)."""

from __future__ import annotations

from collections.abc import Mapping

import psutil

from streamapp.transport.topics import Topics

TopicPartition = tuple[str, int]


def sample_system() -> dict[str, float | int]:
    """CPU and memory of this machine now.

    ``cpu_percent`` is the use since the previous call (psutil's non-blocking form): the first call in a
    process answers 0.0, so call it once at start-up and then on every tick.
    """
    memory = psutil.virtual_memory()
    return {
        "cpu_percent": float(psutil.cpu_percent(interval=None)),
        "cpu_count": psutil.cpu_count() or 1,
        "mem_percent": float(memory.percent),
        "mem_available_bytes": int(memory.available),
        "mem_total_bytes": int(memory.total),
    }


def main_rss_bytes() -> int:
    """This process's resident size now."""
    return int(psutil.Process().memory_info().rss)


def lag_by_stage(
    end_offsets: Mapping[TopicPartition, int],
    committed: Mapping[TopicPartition, int | None],
    stage_of_topic: Mapping[str, str],
) -> dict[str, int]:
    """Messages not yet consumed, summed per stage: sum over partitions of max(0, end - committed).

    A partition without a committed offset (None or absent) counts from 0, so its whole log is lag (the
    workers read from the earliest offset). Topics without a stage are ignored; every stage named in
    ``stage_of_topic`` appears in the answer, 0 when nothing waits.
    """
    lag = dict.fromkeys(stage_of_topic.values(), 0)
    for (topic, partition), end in end_offsets.items():
        stage = stage_of_topic.get(topic)
        if stage is None:
            continue
        done = committed.get((topic, partition))
        lag[stage] += max(0, int(end) - int(done or 0))
    return lag


def stage_of_topic(topics: Topics) -> dict[str, str]:
    """Which stage consumes each input topic. Only submissions wait in a topic: later stages run from the jobs
    table, where the sample counts the jobs waiting for them."""
    return {topics.videos: "extract"}
