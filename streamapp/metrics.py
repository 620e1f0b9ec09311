"""Prometheus metrics (conventional names, base units), served at /metrics on a worker's web port and by
`streamapp api`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from streamapp.job import STATES

REGISTRY = CollectorRegistry(auto_describe=True)

STAGE_DURATION = Histogram(
    "streamapp_stage_duration_seconds",
    "Wall time of one stage of one job",
    ["stage"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
    registry=REGISTRY,
)
EVENTS = Counter("streamapp_events_total", "Events read and written", ["topic", "direction"], registry=REGISTRY)
FAILURES = Counter("streamapp_job_failures_total", "Failed jobs by error code", ["code"], registry=REGISTRY)
JOBS_FINISHED = Counter("streamapp_jobs_finished_total", "Jobs that ended, done or failed", registry=REGISTRY)
JOBS = Gauge("streamapp_jobs", "Jobs known to this worker's table, by state", ["state"], registry=REGISTRY)
DEAD_LETTERS = Counter("streamapp_dead_letters_total", "Events sent to the dead-letter topic", ["topic"],
                       registry=REGISTRY)
SKIPPED_EVENTS = Counter("streamapp_skipped_events_total",
                         "Events Faust skipped at an assignment that the worker recovered, by topic", ["topic"],
                         registry=REGISTRY)
PRIORITY_MISMATCHES = Counter(
    "streamapp_priority_partition_mismatches_total",
    "Submissions that arrived on another partition than their priority's (the request's priority still "
    "orders the work)", ["priority", "partition"], registry=REGISTRY)
REJOINS = Counter(
    "streamapp_group_rejoins_total",
    "Group rejoins this worker asked for because an input partition had no live holder (app/holders.py)",
    registry=REGISTRY)
STALLED_PARTITIONS = Counter(
    "streamapp_stalled_partitions_total",
    "Input partitions whose fetch had stopped and was started again (faust_fixes.resume_fetching)", ["topic"],
    registry=REGISTRY)
CACHE = Counter("streamapp_cache_requests_total", "Result-cache lookups", ["result"], registry=REGISTRY)
CACHE_UP = Gauge("streamapp_cache_up", "1 when Redis answers, 0 when the pipeline runs uncached",
                 registry=REGISTRY)
POOL_WORKERS = Gauge("streamapp_pool_workers", "Process-pool size", ["stage"], registry=REGISTRY)
POOL_BUSY = Gauge("streamapp_pool_busy", "Pool tasks running", ["stage"], registry=REGISTRY)
FRAMES_PER_SECOND = Gauge("streamapp_frames_per_second", "Frames per second of the last job", ["stage"],
                          registry=REGISTRY)
CONSUMER_LAG = Gauge("streamapp_consumer_lag", "Messages not yet consumed", ["topic", "partition"],
                     registry=REGISTRY)


POOL_DECISIONS = Counter("streamapp_pool_decisions_total", "Optimizer decisions, by rule", ["rule"],
                         registry=REGISTRY)
ALERTS = Counter("streamapp_alerts_total", "Alert transitions, by rule and state", ["name", "state"],
                 registry=REGISTRY)
CPU_PERCENT = Gauge("streamapp_cpu_percent", "Machine CPU use", registry=REGISTRY)
MEMORY_PERCENT = Gauge("streamapp_memory_percent", "Machine memory use", registry=REGISTRY)


def count_jobs(records: Iterable[dict[str, Any]]) -> None:
    """Set the ``streamapp_jobs`` gauge from job records (a worker's table, or the API's read model)."""
    counts: dict[str, int] = {}
    for job in records:
        counts[job["state"]] = counts.get(job["state"], 0) + 1
    for state in STATES:
        JOBS.labels(state.value).set(counts.get(state, 0))


def render() -> bytes:
    return generate_latest(REGISTRY)
# Live jobs (app/live_stage.py)
LIVE_SEGMENT_LAG = Gauge("streamapp_live_segment_lag_seconds",
                         "Stream taken from a live playlist but not yet analysed (the latest live job's report)",
                         registry=REGISTRY)
LIVE_CLIP_LATENCY = Histogram("streamapp_live_clip_latency_seconds",
                              "From the arrival of a live clip's last segment to the clip rendered",
                              buckets=(5, 10, 15, 20, 30, 45, 60, 90, 120, 300), registry=REGISTRY)
