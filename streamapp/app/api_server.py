"""`streamapp api`: the HTTP API and web page as a process of its own (the Procfile's web process).

It keeps a read model of every job by folding the job-status topic (the same fold as the jobs table),
submits through Kafka like any producer, and reads clips from the shared data folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import web
from aiokafka import TopicPartition

from streamapp import metrics
from streamapp.api import add_routes, token_required
from streamapp.api.routes import RedactingAccessLogger
from streamapp.app.jobs import fold_into
from streamapp.app.service import WorkerJobService
from streamapp.client import Submitter
from streamapp.errors import StreamappError
from streamapp.events import EventError, decode
from streamapp.settings import Settings
from streamapp.transport import clients
from streamapp.transport.admin import ensure_topics
from streamapp.transport.topics import Topics

log = logging.getLogger("streamapp.api")


class JobLog:
    """Every job's record, folded from the job-status topic read from its beginning."""

    def __init__(self, bootstrap: str, topics: Topics) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self._consumer = clients.reader(bootstrap)
        self._topics = topics

    async def run(self) -> None:
        await self._consumer.start()
        try:
            partitions = [TopicPartition(self._topics.job_status, p)
                          for p in sorted(self._consumer.partitions_for_topic(self._topics.job_status) or ())]
            self._consumer.assign(partitions)
            await self._consumer.seek_to_beginning(*partitions)
            async for message in self._consumer:
                with contextlib.suppress(EventError):
                    fold_into(self.records, decode(message.value or b"", 64 * 1024 * 1024), partition=message.partition)
        finally:
            await self._consumer.stop()


class Probes:
    """/healthz and /metrics of the API process (no token: they reveal no job, as on a worker)."""

    def __init__(self, job_log: JobLog, reader: asyncio.Task) -> None:
        self.job_log = job_log
        self.reader = reader

    async def health(self, request: web.Request) -> web.Response:
        # The read model is the API's only view of jobs: when its reader has stopped, the answers go stale.
        alive = not self.reader.done()
        body = {"ok": alive, "jobs": len(self.job_log.records), "job_log_reader": "running" if alive else "stopped"}
        return web.json_response(body, status=200 if alive else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        metrics.count_jobs(self.job_log.records.values())
        return web.Response(body=metrics.render(), content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})


def run_api(settings: Settings) -> None:
    if token_required(settings.web_host) and not settings.api_token:
        raise StreamappError(f"the API would listen on {settings.web_host} without a token: set STREAMAPP_API_TOKEN",
                             code="config_invalid", permanent=True)
    topics = settings.topics

    async def build() -> web.Application:
        await ensure_topics(settings.bootstrap_servers, topics.specs(), replication=settings.topic_replication)
        job_log = JobLog(settings.bootstrap_servers, topics)
        submitter = Submitter(settings.bootstrap_servers, topics)
        await submitter.__aenter__()
        tasks = [asyncio.create_task(job_log.run(), name="job-log")]
        # The read model must not die silently: the API would go on serving a frozen view.
        tasks[0].add_done_callback(lambda task: task.cancelled() or task.exception() is None or log.error(
            "the job log reader stopped: %s; job states are no longer updated", task.exception()))
        service = WorkerJobService(settings, lambda: list(job_log.records.values()), job_log.records.get,
                                   lambda event: submitter.submit(event), publish_log=submitter.publish_log_event)
        app = web.Application()
        add_routes(app, service, token=settings.api_token or None)
        probes = Probes(job_log, tasks[0])
        app.router.add_get("/healthz", probes.health)
        app.router.add_get("/metrics", probes.metrics)

        async def close(_: web.Application) -> None:
            for task in tasks:
                task.cancel()
            await submitter.__aexit__(None, None, None)

        app.on_cleanup.append(close)
        return app

    web.run_app(build(), host=settings.web_host, port=settings.web_port, print=lambda msg: log.info(msg),
                access_log_class=RedactingAccessLogger)


__all__ = ["JobLog", "run_api"]
