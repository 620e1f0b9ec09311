from __future__ import annotations

from streamapp.ops.sampler import lag_by_stage, sample_system, stage_of_topic
from streamapp.transport.topics import Topics


def test_sample_system_reads_cpu_and_memory() -> None:
    sample_system()
    values = sample_system()
    assert 0.0 <= values["cpu_percent"] <= 100.0 * values["cpu_count"]
    assert 0.0 < values["mem_percent"] <= 100.0
    assert 0 < values["mem_available_bytes"] <= values["mem_total_bytes"]


def test_lag_by_stage_sums_partitions() -> None:
    topics = Topics("sa")
    stages = stage_of_topic(topics)
    end = {("sa.videos", 0): 10, ("sa.videos", 1): 5, ("sa.extracted", 0): 7, ("sa.scored", 2): 3,
           ("sa.job-status", 0): 1000}
    committed = {("sa.videos", 0): 4, ("sa.videos", 1): 5, ("sa.extracted", 0): None, ("sa.scored", 2): 9}
    # Only submissions wait in a topic; the stage outcome topics have no reader, so their logs are no backlog.
    assert lag_by_stage(end, committed, stages) == {"extract": 6}


def test_lag_by_stage_lists_every_stage() -> None:
    assert lag_by_stage({}, {}, {"a": "extract", "b": "score"}) == {"extract": 0, "score": 0}
