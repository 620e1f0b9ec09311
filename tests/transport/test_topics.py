"""Topic layout: a job's events land in the partition that readers compute for it."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from streamapp.transport.topics import JOB_PARTITIONS, job_partition


def test_job_partition_is_the_producers_choice_for_the_job_key() -> None:
    partitions = list(range(JOB_PARTITIONS))
    seen = set()
    for i in range(200):
        job_id = f"{i:016x}"
        expected = DefaultPartitioner()(job_id.encode(), partitions, partitions)
        assert job_partition(job_id) == expected
        seen.add(expected)
    assert seen == set(partitions)  # and the ids spread over every partition
    assert job_partition("abc", 12) in range(12)
