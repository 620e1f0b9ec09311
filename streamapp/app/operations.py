"""Self-tuning and alerting inside a worker.

A timer samples this worker's load and hands the sample, in-process, to the optimizer (which resizes the
process pool within bounds, by explicit rules) and to the alert rules; the sample is also published on the
metrics topic for dashboards and other consumers. Decisions and alerts are events on the ops topic, log
lines and metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from aiokafka import AIOKafkaConsumer, TopicPartition

from streamapp import events, metrics
from streamapp.app.jobs import STAGE_OF_STATE, TERMINAL, runnable
from streamapp.app.pool import WorkPool
from streamapp.app.scheduler import Scheduler
from streamapp.ops.alerts import AlertEvaluator, default_rules
from streamapp.ops.optimizer import Bounds, MetricsSample, Optimizer, slots_within_budget
from streamapp.ops.sampler import lag_by_stage, main_rss_bytes, sample_system, stage_of_topic
from streamapp.settings import Settings
from streamapp.transport import clients
from streamapp.transport.topics import Topics

log = logging.getLogger("streamapp.ops")

Send = Callable[[str, dict[str, Any]], Awaitable[None]]
STAGES = ("extract", "score", "export")
RECENT_S = 600.0  # the window for failure rate and stage p95


def worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def recent_outcomes(records: list[dict[str, Any]], now: float) -> tuple[float | None, dict[str, float], float]:
    """Failure rate, p95 stage durations and jobs finished per minute over the recent window."""
    ended = [r for r in records if r["state"] in TERMINAL and now - r.get("updated_at", 0.0) <= RECENT_S]
    failure_rate = sum(r["state"] == "failed" for r in ended) / len(ended) if ended else None
    durations: dict[str, list[float]] = {}
    for record in ended:
        for stage, seconds in (record.get("timings_s") or {}).items():
            if stage in STAGES:
                durations.setdefault(stage, []).append(float(seconds))
    p95 = {stage: float(np.percentile(values, 95)) for stage, values in durations.items()}
    last_minute = sum(1 for r in ended if now - r.get("updated_at", 0.0) <= 60.0)
    return failure_rate, p95, float(last_minute)


def memory_budget_bytes(settings: Settings) -> int:
    return settings.memory_budget_mb * 1024 * 1024


def starting_pool_size(settings: Settings) -> int:
    """The pool's size at start: ``pool_size``, or fewer where the memory budget holds fewer processes at the
    peak a render is expected to reach (nothing has been measured yet)."""
    fits = slots_within_budget(memory_budget_bytes(settings), main_rss_bytes(), 0)
    return settings.pool_size if fits is None else min(settings.pool_size, fits)


class Operations:
    def __init__(self, settings: Settings, topics: Topics, pool: WorkPool, scheduler: Scheduler,
                 records: Callable[[], list[dict[str, Any]]], send: Send) -> None:
        self.settings = settings
        self.topics = topics
        self.pool = pool
        self.scheduler = scheduler
        self.records = records
        self.send = send
        self.worker_id = worker_id()
        self.optimizer = self._new_optimizer()
        self.alerts = AlertEvaluator(default_rules(settings))
        self.topic_lag: dict[str, int] = {}
        sample_system()  # psutil's first CPU reading is always 0: take it now

    def _new_optimizer(self) -> Optimizer:
        return Optimizer(Bounds(self.settings.pool_min_size, max(self.settings.pool_min_size,
                                                                  self.settings.pool_max_size)),
                         cooldown_s=self.settings.optimizer_cooldown_s, hysteresis=self.settings.optimizer_hysteresis,
                         cpu_headroom_percent=self.settings.optimizer_cpu_headroom_percent,
                         base_size=starting_pool_size(self.settings),
                         memory_budget_bytes=memory_budget_bytes(self.settings))

    def sample(self) -> dict[str, Any]:
        """This worker's load now, as a metrics_sample event."""
        now = time.time()
        records = self.records()
        owned = [r for r in records if self.scheduler.owns(int(r.get("partition", -1)))]
        waiting = {stage: self.topic_lag.get(stage, 0) for stage in STAGES}
        busy = dict.fromkeys(STAGES, 0)
        for record in owned:
            stage = STAGE_OF_STATE.get(record["state"])
            if stage is None:
                continue
            if record["job_id"] in self.scheduler.running:
                busy[stage] += 1
            elif runnable(record, now):
                waiting[stage] += 1
        system = sample_system()
        failure_rate, p95, per_minute = recent_outcomes(owned, now)
        metrics.CPU_PERCENT.set(system["cpu_percent"])
        metrics.MEMORY_PERCENT.set(system["mem_percent"])
        return events.validate({
            "schema_version": events.SCHEMA_VERSION, "type": "metrics_sample", "worker_id": self.worker_id,
            "at": now, "stage_lag": waiting, "stage_busy": busy, "pool_size": self.pool.size,
            "input_wait": self.scheduler.runner.fetching,
            "cpu_percent": float(system["cpu_percent"]), "mem_percent": float(system["mem_percent"]),
            "mem_available_bytes": int(system["mem_available_bytes"]), "throughput_jobs_per_min": per_minute,
            "failure_rate": failure_rate, "stage_p95_s": p95,
            "main_rss_bytes": main_rss_bytes(), "process_peak_bytes": self.pool.process_peak_bytes,
        })

    async def handle(self, sample: dict[str, Any]) -> None:
        """Feed one of this worker's samples to the optimizer and the alert rules."""
        if sample.get("worker_id") != self.worker_id:
            return
        if self.settings.optimizer_enabled:
            decision = self.optimizer.observe(MetricsSample(
                at=sample["at"], stage_lag=sample["stage_lag"], stage_busy=sample["stage_busy"],
                pool_size=sample["pool_size"], input_wait=sample.get("input_wait", 0),
                cpu_percent=sample["cpu_percent"], mem_percent=sample["mem_percent"],
                mem_available_bytes=sample["mem_available_bytes"],
                throughput_jobs_per_min=sample["throughput_jobs_per_min"],
                main_rss_bytes=sample.get("main_rss_bytes", 0), process_peak_bytes=sample.get("process_peak_bytes", 0)))
            if decision is not None:
                # A CPU-driven shrink keeps the warm processes: the next downloads will want them back. Under a
                # memory budget every process counts, so none is kept past the pool's size.
                keep = decision.rule == "cpu_saturated" and not self.settings.memory_budget_mb
                self.pool.resize(decision.pool_size_to, keep_processes=keep)
                metrics.POOL_WORKERS.labels("all").set(self.pool.size)
                metrics.POOL_DECISIONS.labels(decision.rule).inc()
                log.info("pool %d -> %d (%s): %s", decision.pool_size_from, decision.pool_size_to, decision.rule,
                         decision.reason)
                await self.send("ops", events.validate({
                    "schema_version": events.SCHEMA_VERSION, "type": "pool_decision", "worker_id": self.worker_id,
                    "at": sample["at"], "pool_size_from": decision.pool_size_from,
                    "pool_size_to": decision.pool_size_to, "rule": decision.rule, "reason": decision.reason}))
                self.scheduler.wake.set()
        values = {"lag": float(sum(sample["stage_lag"].values())), "failure_rate": sample.get("failure_rate"),
                  "stage_p95_s": sample.get("stage_p95_s") or None}
        for alert in self.alerts.evaluate(values, sample["at"]):
            metrics.ALERTS.labels(alert.name, alert.state).inc()
            (log.warning if alert.state == "firing" else log.info)("alert %s %s: %s", alert.name, alert.state,
                                                                    alert.message)
            await self.send("ops", events.validate({
                "schema_version": events.SCHEMA_VERSION, "type": "alert", "worker_id": self.worker_id,
                **{k: v for k, v in alert.as_dict().items() if k in (
                    "name", "label", "state", "value", "threshold", "severity", "message", "at")}}))

    async def watch_lag(self, bootstrap: str, every_s: float = 10.0) -> None:
        """Every ``every_s``, the consumer group's lag per topic: for /metrics and the next samples."""
        consumer = clients.reader(bootstrap)
        await consumer.start()
        try:
            while True:
                with contextlib.suppress(Exception):  # lag is best effort: the broker may be busy
                    await self.update_consumer_lag(consumer, bootstrap)
                await asyncio.sleep(every_s)
        finally:
            await consumer.stop()

    async def update_consumer_lag(self, consumer: AIOKafkaConsumer, bootstrap: str) -> None:
        """Consumer-group lag per topic and partition, for /metrics and the samples."""
        stages = stage_of_topic(self.topics)
        # From the declared partition counts: this consumer's metadata only covers the metrics topic.
        partitions = [TopicPartition(spec.name, p) for spec in self.topics.specs() if spec.name in stages
                      for p in range(spec.partitions)]
        end = await consumer.end_offsets(partitions)
        admin = clients.admin(bootstrap)
        try:
            await admin.start()
            offsets = await admin.list_consumer_group_offsets(self.settings.app_id, partitions=partitions)
        finally:
            await admin.close()
        committed = {tp: (meta.offset if meta is not None and meta.offset >= 0 else None)
                     for tp, meta in offsets.items()}
        for tp in partitions:
            metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, end[tp] - (committed.get(tp) or 0)))
        self.topic_lag = lag_by_stage(end, committed, stages)

    def reload(self, changes: dict[str, tuple[Any, Any]]) -> None:
        """Apply safe setting changes in place (every part holds the same Settings object)."""
        for name, (_, new) in changes.items():
            setattr(self.settings, name, new)
        if {"pool_min_size", "pool_max_size", "memory_budget_mb"} & changes.keys():
            self.optimizer = self._new_optimizer()
        if any(name.startswith("alert_") for name in changes):
            self.alerts = AlertEvaluator(default_rules(self.settings))
        log.info("settings reloaded: %s", ", ".join(sorted(changes)) or "nothing safe changed")
