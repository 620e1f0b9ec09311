"""The Faust app: thin agents per stage wired by topics, the jobs table, the scheduler and web views.

Flow: videos -> [extract agent] -> job queued -> (scheduler runs extract) -> extracted -> [score agent]
-> job scoring -> (scheduler runs score) -> scored -> [export agent] -> job exporting -> (scheduler
runs export) -> results. Agents only validate and record hand-offs in the job-status log, which the
track-jobs agent folds into the jobs table; the scheduler does the heavy work in the process pool.
Agent concurrency stays at 1 (faust issue 606), and the table, not the offset, is the record of work.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust
import orjson
from aiohttp import web
from faust.types import TP

from streamapp import events, metrics
from streamapp.api import add_routes, token_required
from streamapp.api.routes import authorized, error_response
from streamapp.app import jobs as job_records
from streamapp.app import tasks
from streamapp.app.catch_up import AppliedOffsets
from streamapp.app.faust_fixes import BoundedShutdownWorker, SafeTableManager, quiet_repeats, resume_fetching
from streamapp.app.job_files import JobFiles
from streamapp.app.operations import Operations
from streamapp.app.pool import WorkPool
from streamapp.app.runner import StageRunner
from streamapp.app.scheduler import Scheduler, one_line
from streamapp.app.service import WorkerJobService
from streamapp.cache import ResultCache
from streamapp.client import read_job_record
from streamapp.errors import EventError, StreamappError, TransientError
from streamapp.fileio import sweep_temp_files
from streamapp.ops.reload import ConfigWatcher
from streamapp.settings import Settings
from streamapp.transport import codec
from streamapp.transport.topics import Topics, job_partition, partition_for_priority

log = logging.getLogger("streamapp.worker")

# How often a held input partition is checked for a stopped fetch (faust_fixes.resume_fetching).
STALL_CHECK_S = 10.0


def create_app(settings: Settings) -> faust.App:
    codec.register()
    topics = settings.topics
    app = faust.App(
        settings.app_id,
        broker=settings.broker,
        store="memory://",
        datadir=str(settings.data_dir / "faust"),
        key_serializer="raw",
        value_serializer="orjson",
        web_enabled=True,
        web_tables_enabled=False,  # Faust's /table views would show job records without a token
        web_host=settings.web_host,
        web_bind=settings.web_host,
        web_port=settings.web_port,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        broker_rebalance_timeout=settings.rebalance_timeout_s,
        stream_processing_timeout=settings.stream_processing_timeout_s,
        consumer_auto_offset_reset="earliest",
        topic_disable_leader=True,
        # With the memory store a worker remembers how far it read a changelog partition it held before;
        # the embedded broker can report a lower high-water mark for a moment after a pause or a
        # rebalance, and Faust's check would then crash the worker (faust issue 158). The table holds
        # everything up to that offset, so nothing is lost by skipping the check.
        recovery_consistency_check=False,
        TableManager=SafeTableManager,  # recovery never seeks below offset 0 (app/faust_fixes.py)
        topic_partitions=topics.job_partitions,
    )
    _register(app, settings, topics)
    return app


def _register(app: faust.App, settings: Settings, topics: Topics) -> None:  # noqa: C901 - one place per agent
    raw = {"key_serializer": "raw", "value_serializer": "raw"}
    channels = {
        "videos": app.topic(topics.videos, **raw),
        "extracted": app.topic(topics.extracted, **raw),
        "scored": app.topic(topics.scored, **raw),
        "job_status": app.topic(topics.job_status, **raw),
        "results": app.topic(topics.results, **raw),
        "dead_letter": app.topic(topics.dead_letter, **raw),
        "metrics": app.topic(topics.metrics, **raw),
        "ops": app.topic(topics.ops, **raw),
    }
    jobs = app.Table("jobs", default=None, partitions=topics.job_partitions, key_type=str)
    pool = WorkPool(settings.pool_size)
    cache = ResultCache(settings.redis_url, settings.cache_ttl_s, max_total_bytes=settings.cache_max_bytes)
    metrics.POOL_WORKERS.labels("all").set(settings.pool_size)

    ended = job_records.EndedJobs()

    def after_end(event: dict[str, Any]) -> bool:
        """A non-terminal status for a job that has ended: published, it would move the log backwards."""
        if event.get("type") != "job_status" or event["state"] in job_records.TERMINAL:
            return False
        record = jobs.get(event["job_id"])
        return event["job_id"] in ended or bool(record and record["state"] in job_records.TERMINAL)

    async def send(role: str, event: dict[str, Any], key: str | None = None, delivered: bool = False) -> None:
        events.validate(event)
        if after_end(event):
            log.info("job %s has ended; not publishing %s %s", event["job_id"], event["state"], event["stage"])
            return
        if job_records.ends_job(event):  # from now on, nothing non-terminal goes out for this job
            ended.note(event["job_id"])
        value = orjson.dumps(event)
        if len(value) > settings.max_event_bytes:  # no agent would accept it: fail the job, not the log
            raise EventError(f"{event['type']} event of {len(value)} bytes exceeds the {settings.max_event_bytes}"
                             "-byte limit", code="event_too_large")
        topic = channels[role]
        key = key or event.get("job_id") or event.get("worker_id", "")
        pending = await topic.send(key=key.encode(), value=value)
        if delivered:  # wait for the broker's acknowledgement, not just the producer's buffer
            await pending
        metrics.EVENTS.labels(topic.get_topic_name(), "out").inc()

    async def send_reliably(role: str, event: dict[str, Any], key: str | None = None,
                            delivered: bool = False) -> None:
        """Agents' sends: the consumed event is acknowledged afterwards, so keep trying rather than lose it."""
        for attempt in range(1, 31):
            try:
                return await send(role, event, key, delivered)
            except EventError:
                raise
            except Exception as exc:  # the broker is away: wait and try again
                delay = min(10.0, 0.2 * 2**attempt)
                log.warning("sending to %s failed (%s); retrying in %.1f s", role, one_line(exc)["message"], delay)
                await asyncio.sleep(delay)
        raise TransientError(f"could not send to {role}", code="broker_unavailable")

    def owns(partition: int) -> bool | None:
        if app.rebalancing or getattr(app, "in_recovery", False):
            return None  # unknown: the table may be half restored and the assignment is moving
        return TP(topics.job_status, partition) in app.assignor.assigned_actives()

    def records() -> list[dict[str, Any]]:
        return [value for value in jobs.values() if value]

    def held_inputs() -> list[tuple[str, int]]:
        return [(tp.topic, tp.partition) for tp in app.assignor.assigned_actives()
                if tp.topic in (topics.videos, topics.job_status)]

    applied = AppliedOffsets(settings.bootstrap_servers, settings.app_id, held_inputs, upstream=topics.videos)
    runner = StageRunner(settings, pool, cache, send)

    async def read_log(job_id: str) -> dict[str, Any] | None:
        try:
            return await read_job_record(settings.bootstrap_servers, topics, job_id)
        except Exception as exc:  # the broker is busy or away: the table decides once it catches up
            log.warning("could not read the log of job %s: %s", job_id, one_line(exc)["message"])
            return None

    scheduler = Scheduler(settings, runner, records, owns, capacity=lambda: pool.size, caught_up=applied.wait,
                          applied_all=functools.partial(applied.reached, topics.job_status), read_log=read_log,
                          ended=ended.__contains__)

    @app.on_before_shutdown.connect
    async def close_offsets(app: faust.App, **kwargs: Any) -> None:
        await applied.close()

    async def accept_value(topic: str, partition: int, offset: int, value: bytes | None) -> dict[str, Any] | None:
        """Decode and validate; an invalid event goes to the dead-letter topic and is skipped."""
        metrics.EVENTS.labels(topic, "in").inc()
        try:
            return events.decode(value or b"", settings.max_event_bytes)
        except StreamappError as exc:
            # A quarter of the size limit keeps the dead letter itself under it.
            raw_value = (value or b"")[: settings.max_event_bytes // 4].decode("utf-8", "replace")
            await send_reliably(
                "dead_letter",
                {
                    "schema_version": events.SCHEMA_VERSION,
                    "type": "dead_letter",
                    "topic": topic,
                    "partition": partition,
                    "offset": offset,
                    "reason": str(exc),
                    "value": raw_value,
                },
                key=f"{topic}:{partition}:{offset}",
            )
            metrics.DEAD_LETTERS.labels(topic).inc()
            log.warning("dead-lettered %s[%s]@%s: %s", topic, partition, offset, exc)
            return None

    async def accept(event: faust.EventT) -> dict[str, Any] | None:
        message = event.message
        return await accept_value(message.topic, message.partition, message.offset, event.value)

    async def already_logged(job_id: str) -> bool:
        """Whether the job is in the job log already: a submission re-read after its taker died (its offset
        never committed) must not queue the job again, perhaps after its end. The videos topic is split by
        priority, not by job, so the job's partition is often another worker's: then its log answers."""
        partition = job_partition(job_id, topics.job_partitions)
        if owns(partition) is True and applied.reached(topics.job_status, partition):
            return jobs.get(job_id) is not None
        return await read_log(job_id) is not None

    async def take_in(topic: str, partition: int, offset: int, value: bytes | None) -> None:
        """A submission becomes a queued job in the job log; the scheduler orders the work by priority."""
        submitted = await accept_value(topic, partition, offset, value)
        if submitted is not None and submitted["type"] == "video_submitted" and await already_logged(
                submitted["job_id"]):
            log.info("job %s is already in the job log; submission re-read, not queued again", submitted["job_id"])
        elif submitted is not None and submitted["type"] == "video_submitted":
            request = submitted["request"]
            if partition != partition_for_priority(request["priority"]):
                # A producer that let its client pick the partition: the job is taken all the same, and its
                # priority (the request's, not the partition's) orders the work. Counted so it can be fixed.
                metrics.PRIORITY_MISMATCHES.labels(request["priority"], str(partition)).inc()
                log.warning("job %s (priority %s) arrived on %s[%d], not on partition %d", submitted["job_id"],
                            request["priority"], topic, partition, partition_for_priority(request["priority"]))
            # Delivered before the mark: the scheduler's catch-up reads the job-status log only once every
            # submission is marked.
            await send_reliably("job_status", events.status_event(
                submitted["job_id"], "queued", "submit", request=request, priority=request["priority"],
                path=request["path"]), delivered=True)
        applied.mark(topic, partition, offset)

    @app.agent(channels["videos"], name="extract")
    async def extract_agent(stream: faust.StreamT) -> None:
        # Drain submissions into the job log at once.
        async for event in stream.events():
            message = event.message
            await take_in(message.topic, message.partition, message.offset, event.value)

    @app.on_partitions_assigned.connect
    async def note_group_offsets(app: faust.App, assigned: set[TP], **kwargs: Any) -> None:
        inputs = [(tp.topic, tp.partition) for tp in assigned if tp.topic in (topics.videos, topics.job_status)]
        scheduler.release(lambda partition: TP(topics.job_status, partition) in assigned)
        scheduler.forget_confirmations()
        try:  # inside Faust's rebalance: never hold it up for long (the catch-up check retries the read)
            await asyncio.wait_for(applied.assigned(inputs), 5.0)
        except TimeoutError:
            log.warning("reading the group's offsets took over 5 s; retrying later")

    async def republish(record: Any) -> None:
        # The jobs table may only be written inside its agent's stream, so a skipped job-status event is
        # published again (same key, same partition); folding it twice changes nothing.
        await (await channels["job_status"].send(key=record.key, value=record.value, partition=record.partition))

    async def take_in_record(record: Any) -> None:
        await take_in(record.topic, record.partition, record.offset, record.value)

    @app.timer(2.0)
    @guarded
    async def recover_skipped() -> None:
        for topic, agent, recover in ((topics.videos, "extract", take_in_record),
                                      (topics.job_status, "track-jobs", republish)):
            for tp, first, stop in applied.holes(topic):
                log.warning("%s[%d] offsets %d..%d never reached the %s agent (a Faust race at assignment); "
                            "recovering them", tp.topic, tp.partition, first, stop - 1, agent)
                records = await applied.read(tp, first, stop)
                for record in records:
                    await recover(record)
                applied.settle(tp, first, stop)
                metrics.SKIPPED_EVENTS.labels(tp.topic).inc(len(records))

    @app.timer(STALL_CHECK_S)
    @guarded
    async def resume_stalled_partitions() -> None:
        if app.rebalancing or getattr(app, "in_recovery", False):
            return
        for tp in await applied.stalled((topics.videos, topics.job_status), held_for_s=STALL_CHECK_S):
            state = resume_fetching(app.consumer, TP(tp.topic, tp.partition))
            metrics.STALLED_PARTITIONS.labels(tp.topic).inc()
            log.warning("%s[%d]: nothing applied for %.0f s while its log holds more (%s); fetching it again",
                        tp.topic, tp.partition, STALL_CHECK_S, state)

    @app.agent(channels["job_status"], name="track-jobs")
    async def track_jobs(stream: faust.StreamT) -> None:
        # The jobs table is written here, inside stream iteration, so its changelog stays consistent.
        async for event in stream.events():
            value = await accept(event)
            home = job_partition(value["job_id"], topics.job_partitions) \
                if value and value["type"] in ("job_cancel", "clip_edit") else event.message.partition
            if value is not None and event.message.partition != home:
                # Sent by a client whose partitioner is not the Java client's (librdkafka's default): the job's
                # record is on its own partition, maybe another worker's. Forwarded there, unchanged.
                log.info("job %s: %s on job-status[%d], forwarded to [%d]", value["job_id"], value["type"],
                         event.message.partition, home)
                await (await channels["job_status"].send(key=event.key, value=event.value, partition=home))
            elif value is not None and value["type"] in job_records.LOG_TYPES:
                record = job_records.fold_into(jobs, value, partition=event.message.partition)
                if record is not None and record is not job_records.FORGET:
                    if record["state"] in job_records.TERMINAL:
                        ended.note(value["job_id"])
                    scheduler.wake.set()
                scheduler.confirmed.add(value["job_id"])  # the table now holds this job's latest event
            applied.mark(event.message.topic, event.message.partition, event.message.offset)

    @app.task
    async def run_scheduler() -> None:
        await scheduler.loop()

    operations = Operations(settings, topics, pool, scheduler, records, send)

    @app.timer(settings.metrics_interval_s)
    @guarded
    async def sample_load() -> None:
        sample = operations.sample()
        try:  # the optimizer and the alert rules take this worker's sample in-process, no round trip
            await operations.handle(sample)
        finally:
            await send("metrics", sample)  # published for dashboards and other consumers

    @app.task
    async def watch_lag() -> None:
        while True:  # optional machinery: a broker hiccup must never take the worker down with it
            try:
                await operations.watch_lag(settings.bootstrap_servers)
            except Exception as exc:
                log.warning("consumer-lag reader stopped (%s); restarting in 5 s", one_line(exc)["message"])
                await asyncio.sleep(5.0)

    @app.task
    @guarded
    async def watch_config() -> None:
        watcher = ConfigWatcher(settings, lambda _merged, changes: operations.reload(changes))
        await watcher.start()

    @app.task
    async def warm_pool() -> None:
        # Start the pool's processes (and their imports) while the consumer group forms.
        results = await asyncio.gather(*(pool.run(tasks.warm) for _ in range(settings.pool_size)),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):  # a job will find out again and retry; the worker stays up
                log.warning("warming the pool failed: %s", result)

    @app.timer(0.5)
    @guarded
    async def forward_progress() -> None:
        latest: dict[tuple[str, str], float] = {}
        for job_id, stage, fraction in pool.drain_progress():
            latest[(job_id, stage)] = fraction
        for (job_id, stage), fraction in latest.items():
            record = jobs.get(job_id)
            # Only for a stage still running here, on a partition this worker surely holds: a report queued before
            # the stage ended is stale, and during a rebalance (ownership unknown) the job's new owner may already
            # have finished it while this worker's pool process still renders (a scale-out run saw "exporting
            # 0.5" land after "done" so).
            if record and fraction < 1.0 and job_id in scheduler.running \
                    and owns(int(record.get("partition", -1))) is True:
                await send("job_status", events.status_event(
                    job_id, record["state"], stage, progress=fraction, attempts=record.get("attempts", 0)))

    @app.timer(min(60.0, max(1.0, settings.job_retention_s / 4)) if settings.job_retention_s else 3600.0)
    @guarded
    async def expire_jobs() -> None:
        """Forget this worker's ended jobs past their retention: files first, then the record (job_expired)."""
        now = time.time()
        for record in records():
            partition = int(record.get("partition", -1))
            if not job_records.expired(record, now, settings.job_retention_s) or owns(partition) is not True \
                    or not applied.reached(topics.job_status, partition):
                continue
            await asyncio.to_thread(JobFiles.of(settings, record, upload_dir=service.upload_dir()).remove_working)
            await send("job_status", events.new_event("job_expired", record["job_id"], at=now))
            log.info("job %s expired (ended %.0f s ago)", record["job_id"], now - float(record["updated_at"]))

    @app.timer(5.0)
    @guarded
    async def count_jobs() -> None:
        metrics.count_jobs(records())

    @app.page("/metrics")
    async def metrics_view(web: Any, request: Any) -> Any:
        return web.bytes(metrics.render(), content_type="text/plain; version=0.0.4")

    @app.page("/jobs/{job_id}")
    async def job_view(web: Any, request: Any, job_id: str) -> Any:
        # Any worker answers for any job (service.get_job), so no redirect to the partition's owner.
        job = await service.get_job(job_id)
        if job is None:
            return web.json({"error": {"code": "job_unknown", "message": f"no job {job_id}"}}, status=404)
        return web.json(job_records.public_job(job))

    @app.page("/healthz")
    async def health_view(web: Any, request: Any) -> Any:
        held = sorted(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topics.job_status)
        return web.json({"ok": True, "running": len(scheduler.running), "pool": pool.size, "job_partitions": held})

    async def submit(event: dict[str, Any]) -> None:
        events.validate(event)
        partition = partition_for_priority(event["request"]["priority"])
        await channels["videos"].send(key=event["job_id"].encode(), value=orjson.dumps(event), partition=partition)
        metrics.EVENTS.labels(topics.videos, "out").inc()

    service = WorkerJobService(settings, records, jobs.get, submit, read_log=read_log,
                               publish_log=functools.partial(send, "job_status"))
    add_routes(app.web.web_app, service, token=settings.api_token or None)
    if settings.api_token:
        app.web.web_app.middlewares.append(token_guard(settings.api_token))

    app.streamapp_pool = pool  # type: ignore[attr-defined]  # for shutdown
    app.streamapp_scheduler = scheduler  # type: ignore[attr-defined]


def guarded(fn: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """Timers and tasks log their errors instead of crashing the worker (mode crashes on any)."""

    @functools.wraps(fn)
    async def wrapper() -> None:
        try:
            await fn()
        except Exception:
            log.exception("%s failed", fn.__name__)

    return wrapper


def token_guard(token: str) -> Any:
    """Faust's own pages (/jobs, /router, ...) need the API token too; /api has its own check."""
    protected = ("/jobs", "/router", "/table", "/signal", "/graph", "/stats")

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith(protected) and not authorized(request, token):
            return error_response("unauthorized", "a valid token is required (Authorization: Bearer <token>)", 401)
        return await handler(request)

    return middleware


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Run one Faust worker until it is stopped (SIGINT/SIGTERM)."""
    if token_required(settings.web_host) and not settings.api_token:
        raise StreamappError(f"the web server would listen on {settings.web_host} without a token: set "
                             "STREAMAPP_API_TOKEN (or STREAMAPP_WEB_HOST=127.0.0.1)", code="config_invalid",
                             permanent=True)
    from streamapp.transport.admin import ensure_topics, partition_count
    from streamapp.transport.embedded import free_port, port_is_free

    try:  # Faust keeps its own files under the data dir and fails with a traceback when it is missing
        (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StreamappError(f"cannot create the data dir {settings.data_dir}: {exc.strerror}",
                             code="config_invalid", permanent=True) from None

    if settings.web_port and not port_is_free(settings.web_host, settings.web_port):
        # A second worker on the same machine: serve its API elsewhere rather than die on the bind.
        port = free_port(settings.web_host)
        log.warning("web port %d is in use (another worker?); this worker serves on %d", settings.web_port, port)
        settings = settings.model_copy(update={"web_port": port})
    for root in (settings.jobs_dir, settings.clips_dir):  # half files of workers killed mid-write
        for path in sweep_temp_files(root):
            log.info("removed half-written %s", path)
    asyncio.run(ensure_topics(settings.bootstrap_servers, settings.topics.specs(),
                              replication=settings.topic_replication))
    held = asyncio.run(partition_count(settings.bootstrap_servers, settings.topics.job_status))
    if held and held != settings.job_partitions:  # the log was made with another count: it decides
        log.warning("the job topics have %d partitions (STREAMAPP_JOB_PARTITIONS=%d applies only to new topics)",
                    held, settings.job_partitions)
        settings = settings.model_copy(update={"job_partitions": held})
    asyncio.set_event_loop(asyncio.new_event_loop())
    app = create_app(settings)
    worker = BoundedShutdownWorker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False,
                                   shutdown_grace_s=settings.shutdown_grace_s)
    quiet_repeats("aiokafka")
    try:
        worker.execute_from_commandline()
    finally:
        app.streamapp_pool.shutdown()  # type: ignore[attr-defined]
