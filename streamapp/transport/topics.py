"""Topic names, partition counts and the priority -> partition map."""

from __future__ import annotations

from dataclasses import dataclass

# The input topic's partitions are split by priority; the extract agent favours lower numbers.
PRIORITY_PARTITIONS: dict[str, int] = {"high": 0, "normal": 1, "low": 2}
# Partitions of the job-keyed topics (status, hand-offs, results, the table): the most workers that can share
# the work. A setting (STREAMAPP_JOB_PARTITIONS) for new deployments; an existing log keeps its count.
JOB_PARTITIONS = 12


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    compact: bool = False  # keep the latest value per key forever (the table's changelog)


@dataclass(frozen=True)
class Topics:
    """Every topic streamapp uses, named from one prefix so several deployments can share a broker."""

    prefix: str = "streamapp"
    app_id: str = "streamapp"
    job_partitions: int = JOB_PARTITIONS

    @property
    def videos(self) -> str:
        return f"{self.prefix}.videos"

    @property
    def extracted(self) -> str:
        return f"{self.prefix}.extracted"

    @property
    def scored(self) -> str:
        return f"{self.prefix}.scored"

    @property
    def job_status(self) -> str:
        return f"{self.prefix}.job-status"

    @property
    def results(self) -> str:
        return f"{self.prefix}.results"

    @property
    def segments(self) -> str:
        """Live jobs' segments, as they are taken from the playlist."""
        return f"{self.prefix}.segments"

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}.dead-letter"

    @property
    def metrics(self) -> str:
        return f"{self.prefix}.metrics"

    @property
    def ops(self) -> str:
        """Optimizer decisions and alerts."""
        return f"{self.prefix}.ops"

    @property
    def jobs_changelog(self) -> str:
        # Faust names a table's changelog "<app id>-<table name>-changelog".
        return f"{self.app_id}-jobs-changelog"

    def specs(self) -> list[TopicSpec]:
        """All topics to declare up front (the embedded broker creates none on demand)."""
        return [
            TopicSpec(self.videos, len(PRIORITY_PARTITIONS)),
            TopicSpec(self.extracted, self.job_partitions),
            TopicSpec(self.scored, self.job_partitions),
            TopicSpec(self.job_status, self.job_partitions),
            TopicSpec(self.results, self.job_partitions),
            TopicSpec(self.segments, self.job_partitions),
            TopicSpec(self.dead_letter, 1),
            TopicSpec(self.metrics, 1),
            TopicSpec(self.ops, 1),
            TopicSpec(self.jobs_changelog, self.job_partitions, compact=True),
        ]


def partition_for_priority(priority: str) -> int:
    try:
        return PRIORITY_PARTITIONS[priority]
    except KeyError:
        raise ValueError(f"priority must be one of {', '.join(PRIORITY_PARTITIONS)}") from None


def job_partition(job_id: str, partitions: int = JOB_PARTITIONS) -> int:
    """The partition of a job's events in the job-keyed topics (job status, results, the table): the
    producers' default partitioner (murmur2 of the key, as Kafka's Java client), so a reader can go
    straight to the one partition that holds a job."""
    from aiokafka.partitioner import murmur2  # here: settings import this module, and `analyze` needs no client

    return (murmur2(job_id.encode()) & 0x7FFFFFFF) % partitions
