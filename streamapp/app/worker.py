"""The Faust worker: two agents, the jobs table, the scheduler, and the timers and pages around them.

Flow: videos -> [extract agent: take_submissions] -> job queued in the job-status log -> [track-jobs agent:
track_jobs] folds the log into the jobs table -> the scheduler runs each job's next stage (extract, score,
export) or a clip edit in the process pool, on the worker that holds the job's partition; each stage records the
job's next state in the job-status log itself, and export publishes the clips and the job's end on the results
topic. Agent concurrency stays at 1 (faust issue 606), and the table, not the offset, is the record of work.

``Worker`` builds the parts and wires each agent, timer, task and page to one of its named methods.
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
from redis.exceptions import RedisError

from streamapp import events, metrics
from streamapp.api import add_routes, token_required
from streamapp.api.routes import authorized, error_response
from streamapp.app import jobs as job_records
from streamapp.app import tasks
from streamapp.app.catch_up import AppliedOffsets
from streamapp.app.faust_fixes import (
    BoundedShutdownWorker,
    SafeTableManager,
    quiet_repeats,
    refetch_from,
    request_rejoin,
    resume_fetching,
)
from streamapp.app.holders import Coverage, HolderBoard, uncovered
from streamapp.app.job_files import JobFiles
from streamapp.app.operations import Operations, starting_pool_size
from streamapp.app.pool import WorkPool
from streamapp.app.publisher import Publisher
from streamapp.app.runner import StageRunner
from streamapp.app.scheduler import Scheduler, one_line
from streamapp.app.service import WorkerJobService
from streamapp.cache import ResultCache
from streamapp.client import read_job_record
from streamapp.errors import StreamappError
from streamapp.fileio import sweep_temp_files
from streamapp.ops.reload import ConfigWatcher
from streamapp.processes import cap_heap_growth
from streamapp.settings import Settings
from streamapp.transport import codec
from streamapp.transport.topics import PRIORITY_PARTITIONS, job_partition, partition_for_priority

log = logging.getLogger("streamapp.worker")

# How often a held input partition is checked for a stopped fetch (faust_fixes.resume_fetching).
STALL_CHECK_S = 10.0
# Holder heartbeats (app/holders.py): written this often, stale after HOLDER_FRESH_S; a partition nobody has held
# for settings.holder_missing_s makes this worker rejoin the group.
HOLDER_BEAT_S = 5.0
HOLDER_FRESH_S = 15.0
# How long reading a job-status partition's log before its takeover offset may take (restore_lost_jobs): the
# partition's whole history, progress reports included, where a catch-up read covers seconds of it.
HISTORY_READ_S = 60.0
# Events on the job-status log that a client may put on the wrong partition (librdkafka's default partitioner).
CLIENT_LOG_TYPES = ("job_cancel", "clip_edit", "job_stop")


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
    app.streamapp_worker = Worker(app, settings)  # type: ignore[attr-defined]  # Faust's signals hold it weakly
    return app


class Worker:
    """One worker's parts, and the agents, timers, tasks and pages that run them (``wire``)."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.app, self.settings, self.topics = app, settings, settings.topics
        self.jobs = app.Table("jobs", default=None, partitions=self.topics.job_partitions, key_type=str)
        cap_heap_growth()  # the main process reads a job's whole signals before its export
        self.pool = WorkPool(starting_pool_size(settings))
        if self.pool.size < settings.pool_size:
            log.info("memory budget %d MiB: the pool starts with %d process(es), not %d", settings.memory_budget_mb,
                     self.pool.size, settings.pool_size)
        metrics.POOL_WORKERS.labels("all").set(self.pool.size)
        self.publisher = Publisher(app, settings, self.jobs.get)
        self.holders = HolderBoard(settings.redis_url, settings.app_id, fresh_s=HOLDER_FRESH_S)
        self.coverage = Coverage(after_s=settings.holder_missing_s)
        self._held: list[tuple[str, int]] = []  # input partitions of this worker's settled assignment
        self._closing = False
        self.applied = AppliedOffsets(settings.bootstrap_servers, settings.app_id, self.held_inputs,
                                      upstream=self.topics.videos)
        cache = ResultCache(settings.redis_url, settings.cache_ttl_s, max_total_bytes=settings.cache_max_bytes)
        self.runner = StageRunner(settings, self.pool, cache, self.publisher.send)
        self.scheduler = Scheduler(
            settings, self.runner, self.records, self.owns, capacity=lambda: self.pool.size,
            caught_up=self.applied.wait, applied_all=functools.partial(self.applied.reached, self.topics.job_status),
            read_log=self.read_log, ended=self.publisher.ended.__contains__)
        self.operations = Operations(settings, self.topics, self.pool, self.scheduler, self.records,
                                     self.publisher.send)
        self.service = WorkerJobService(settings, self.records, self.jobs.get, self.submit, read_log=self.read_log,
                                        publish_log=functools.partial(self.publisher.send, "job_status"))
        self.wire()

    def wire(self) -> None:
        app, channels, settings = self.app, self.publisher.channels, self.settings
        app.agent(channels["videos"], name="extract")(self.take_submissions)
        app.agent(channels["job_status"], name="track-jobs")(self.track_jobs)
        app.on_partitions_assigned.connect(self.note_group_offsets)
        app.on_partitions_revoked.connect(self.note_revoked)
        app.on_before_shutdown.connect(self.close_offsets)
        app.task(_plain(self.scheduler.loop))
        app.task(_plain(self.watch_lag))
        app.task(_plain(self.warm_pool))
        app.task(guarded(self.watch_config))
        app.task(guarded(self.announce_page))
        for seconds, method in ((2.0, self.recover_skipped), (2.0, self.restore_lost_jobs),
                                (STALL_CHECK_S, self.resume_stalled_partitions),
                                (HOLDER_BEAT_S, self.check_partition_holders),
                                (settings.metrics_interval_s, self.sample_load), (0.5, self.forward_progress),
                                (5.0, self.count_jobs), (expiry_check_s(settings.job_retention_s), self.expire_jobs)):
            app.timer(seconds)(guarded(method))
        app.page("/metrics")(_view(self.metrics_page))
        app.page("/jobs/{job_id}")(_view(self.job_page))
        app.page("/healthz")(_view(self.health_page))
        add_routes(app.web.web_app, self.service, token=settings.api_token or None)
        if settings.api_token:
            app.web.web_app.middlewares.append(token_guard(settings.api_token))

    # -- state this worker holds ---------------------------------------------------------------
    def owns(self, partition: int) -> bool | None:
        """Whether this worker holds the job-status partition; None while a rebalance or the table's recovery makes
        that unknown (the table may be half restored and the assignment is moving)."""
        if self.app.rebalancing or getattr(self.app, "in_recovery", False):
            return None
        return TP(self.topics.job_status, partition) in self.app.assignor.assigned_actives()

    def records(self) -> list[dict[str, Any]]:
        return [value for value in self.jobs.values() if value]

    def held_inputs(self) -> list[tuple[str, int]]:
        return [(tp.topic, tp.partition) for tp in self.app.assignor.assigned_actives()
                if tp.topic in (self.topics.videos, self.topics.job_status)]

    async def read_log(self, job_id: str) -> dict[str, Any] | None:
        """The job's record folded from its own partition of the log; None when it cannot be read now."""
        try:
            return await read_job_record(self.settings.bootstrap_servers, self.topics, job_id)
        except Exception as exc:  # the broker is busy or away: the table decides once it catches up
            log.warning("could not read the log of job %s: %s", job_id, one_line(exc)["message"])
            return None

    # -- agents ------------------------------------------------------------------------------------
    async def take_submissions(self, stream: faust.StreamT) -> None:
        """The extract agent: drains submissions into the job log at once (the scheduler runs extract)."""
        async for event in stream.events():
            message = event.message
            await self.take_in(message.topic, message.partition, message.offset, event.value)

    async def take_in(self, topic: str, partition: int, offset: int, value: bytes | None) -> None:
        """A submission becomes a queued job in the job log; the scheduler orders the work by priority."""
        submitted = await self.publisher.accept(topic, partition, offset, value)
        if submitted is not None and submitted["type"] == "video_submitted" and await self.already_logged(
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
            await self.publisher.send_reliably("job_status", events.status_event(
                submitted["job_id"], "queued", "submit", request=request, priority=request["priority"],
                path=request["path"]), delivered=True)
        self.applied.mark(topic, partition, offset)

    async def already_logged(self, job_id: str) -> bool:
        """Whether the job is in the job log already: a submission re-read after its taker died (its offset
        never committed) must not queue the job again, perhaps after its end. The videos topic is split by
        priority, not by job, so the job's partition is often another worker's: then its log answers."""
        partition = job_partition(job_id, self.topics.job_partitions)
        if self.owns(partition) is True and self.applied.reached(self.topics.job_status, partition):
            return self.jobs.get(job_id) is not None
        return await self.read_log(job_id) is not None

    async def track_jobs(self, stream: faust.StreamT) -> None:
        """The track-jobs agent: folds the job-status log into the jobs table. The table is written here, inside
        stream iteration, so its changelog stays consistent."""
        async for event in stream.events():
            message = event.message
            value = await self.publisher.accept(message.topic, message.partition, message.offset, event.value)
            home = job_partition(value["job_id"], self.topics.job_partitions) \
                if value and value["type"] in CLIENT_LOG_TYPES else message.partition
            if value is not None and message.partition != home:
                # Sent by a client whose partitioner is not the Java client's (librdkafka's default): the job's
                # record is on its own partition, maybe another worker's. Forwarded there, unchanged.
                log.info("job %s: %s on job-status[%d], forwarded to [%d]", value["job_id"], value["type"],
                         message.partition, home)
                await self.publisher.resend("job_status", event.key, event.value, home)
            elif value is not None and value["type"] in job_records.LOG_TYPES:
                self.fold(value, message.partition)
            self.applied.mark(message.topic, message.partition, message.offset)

    def fold(self, value: dict[str, Any], partition: int) -> None:
        record = job_records.fold_into(self.jobs, value, partition=partition)
        if record is not None and value["type"] == "job_stop":
            JobFiles.of(self.settings, record).mark_ended()  # the live stage looks for it between its steps
        if record is not None and record is not job_records.FORGET:
            if record["state"] in job_records.TERMINAL:
                self.publisher.ended.note(value["job_id"])
            self.scheduler.wake.set()
        self.scheduler.confirmed.add(value["job_id"])  # the table now holds this job's latest event

    # -- assignment --------------------------------------------------------------------------------
    async def note_revoked(self, app: faust.App, revoked: set[TP], **kwargs: Any) -> None:
        self._held = []  # until the next assignment: a worker in a join holds nothing it can work on

    async def note_group_offsets(self, app: faust.App, assigned: set[TP], **kwargs: Any) -> None:
        inputs = [(tp.topic, tp.partition) for tp in assigned
                  if tp.topic in (self.topics.videos, self.topics.job_status)]
        self._held = inputs
        self.scheduler.release(lambda partition: TP(self.topics.job_status, partition) in assigned)
        self.scheduler.forget_confirmations()
        try:  # inside Faust's rebalance: never hold it up for long (the catch-up check retries the read)
            await asyncio.wait_for(self.applied.assigned(inputs), 5.0)
        except TimeoutError:
            log.warning("reading the group's offsets took over 5 s; retrying later")

    async def close_offsets(self, app: faust.App, **kwargs: Any) -> None:
        self._closing = True  # Faust stops timers after this hook: a check still to run writes nothing more
        await self.applied.close()
        await self.holders.leave(self.operations.worker_id)
        await self.holders.close()

    async def recover_skipped(self) -> None:
        """Events Faust never handed to an agent (a race at assignment): read them back and apply them."""
        for topic, agent, recover in ((self.topics.videos, "extract", self._take_in_record),
                                      (self.topics.job_status, "track-jobs", self._republish)):
            for tp, first, stop in self.applied.holes(topic):
                log.warning("%s[%d] offsets %d..%d never reached the %s agent (a Faust race at assignment); "
                            "recovering them", tp.topic, tp.partition, first, stop - 1, agent)
                records = await self.applied.read(tp, first, stop)
                for record in records:
                    await recover(record)
                self.applied.settle(tp, first, stop)
                metrics.SKIPPED_EVENTS.labels(tp.topic).inc(len(records))

    async def restore_lost_jobs(self) -> None:
        """Once per takeover of a job-status partition: jobs live in its log before the group's offset at the takeover
        that the table lacks have their events published again (job_records.replay_lost says why). Checked once the
        table's recovery is over and the agent has caught up with the log since the takeover, so a job whose later
        events are still on their way to the table is not taken for lost."""
        held = {tp: start for tp, start in self.applied.takeovers(self.topics.job_status).items()
                if self.owns(tp.partition) is True}
        if any(not self.applied.reached(tp.topic, tp.partition) for tp in held):
            await self.applied.wait(2.0)  # the scheduler checks only while it has a job to choose
        for tp, start in held.items():
            if not self.applied.reached(tp.topic, tp.partition):
                continue
            try:
                records = await self.applied.read(tp, 0, start, timeout_s=HISTORY_READ_S) if start > 0 else []
            except TimeoutError:
                # Not tried again: every 2 s, a log too long to read in time would keep this worker reading for good.
                log.warning("%s[%d]: its log before offset %d could not be read in %.0f s; a live job missing from "
                            "the table there is not restored", tp.topic, tp.partition, start, HISTORY_READ_S)
                self.applied.checked(tp)
                continue
            decoded = []
            for record in records:
                try:
                    decoded.append(events.decode(record.value or b"", self.settings.max_event_bytes))
                except StreamappError:
                    decoded.append({})
            replay = job_records.replay_lost(decoded, lambda job_id: self.jobs.get(job_id) is not None)
            if replay:
                lost = sorted({decoded[i]["job_id"] for i in replay})
                log.warning("%s[%d]: %d live job(s) before the takeover offset %d are missing from the table (%s); "
                            "publishing their %d event(s) again", tp.topic, tp.partition, len(lost), start,
                            ", ".join(lost), len(replay))
                metrics.SKIPPED_EVENTS.labels(tp.topic).inc(len(replay))
            for index in replay:
                await self._republish(records[index])
            self.applied.checked(tp)

    async def _republish(self, record: Any) -> None:
        # The jobs table may only be written inside its agent's stream, so a skipped job-status event is
        # published again (same key, same partition); folding it twice changes nothing. Not a state older than
        # the job's end, though: appended after the end, it would be an event after the end in the log (a fault
        # run saw "exporting" republished after "done").
        try:
            value = orjson.loads(record.value or b"")
        except orjson.JSONDecodeError:
            value = None
        if isinstance(value, dict) and value.get("type") == "job_status" \
                and value.get("state") not in job_records.TERMINAL and await self._has_ended(value):
            log.info("job %s has ended; its skipped %s event is not published again", value["job_id"], value["state"])
            return
        await self.publisher.resend("job_status", record.key, record.value, record.partition)

    async def _has_ended(self, event: dict[str, Any]) -> bool:
        if self.publisher.after_end(event):
            return True
        logged = await self.read_log(event["job_id"])
        return bool(logged and logged["state"] in job_records.TERMINAL)

    async def _take_in_record(self, record: Any) -> None:
        await self.take_in(record.topic, record.partition, record.offset, record.value)

    async def resume_stalled_partitions(self) -> None:
        """A held input partition that applies nothing while its log holds more: put it back in Faust's active set
        and seek it to its first unapplied offset (faust_fixes). Seen on the embedded broker after rebalances:
        partitions active, not paused, never read (Faust's read offset None) until such a seek."""
        if self.app.rebalancing or getattr(self.app, "in_recovery", False):
            return
        for tp in await self.applied.stalled((self.topics.videos, self.topics.job_status), held_for_s=STALL_CHECK_S):
            metrics.STALLED_PARTITIONS.labels(tp.topic).inc()
            faust_tp = TP(tp.topic, tp.partition)
            state = resume_fetching(self.app.consumer, faust_tp)
            offset = self.applied.next_offset(tp)
            if offset is not None:
                await refetch_from(self.app.consumer, faust_tp, offset)
            log.warning("%s[%d]: nothing applied for %.0f s while its log holds more (%s); fetching it again%s",
                        tp.topic, tp.partition, STALL_CHECK_S, state,
                        f" from offset {offset}" if offset is not None else "")

    async def check_partition_holders(self) -> None:
        """Write the input partitions this worker holds to the holder board, read everyone's, and rejoin the group
        when one has had no holder for settings.holder_missing_s (app/holders.py says why).

        What is written is the assignment as this worker's rebalance callbacks saw it (Faust's assignor keeps
        the previous one while a join is in progress). The heartbeat goes out during this worker's rebalances
        too: Faust counts a table's recovery as part of the rebalance, and a recovery longer than the wait must
        not look like partitions nobody holds. The decision waits until this worker's own assignment has
        settled, and then starts its clocks afresh."""
        if self._closing:
            return
        try:
            now = await self.holders.beat(self.operations.worker_id, self._held)
            if self.app.rebalancing:
                self.coverage.forget()
                return
            beats = await self.holders.heartbeats(now)
            counts = {self.topics.videos: len(PRIORITY_PARTITIONS), self.topics.job_status: self.topics.job_partitions}
            lasting = self.coverage.update(uncovered(beats, counts, now, self.holders.fresh_s), time.monotonic())
            if not lasting or not await self.holders.claim_rejoin(self.operations.worker_id,
                                                                   self.coverage.after_s):
                return
        except RedisError as exc:  # the board is best effort: the worker runs on without it
            log.debug("holder board unavailable: %s", exc)
            return
        if request_rejoin(self.app.consumer):
            self.coverage.forget()
            metrics.REJOINS.inc()
            log.warning("%s held by no live worker for %.0f s (%d heartbeats); rejoining the group",
                        ", ".join(f"{topic}[{p}]" for topic, p in lasting), self.coverage.after_s, len(beats))

    async def announce_page(self) -> None:
        """Where this worker's page and API are (its port may have been picked at start)."""
        host = self.settings.web_host if self.settings.web_host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        log.info("page and API at http://%s:%d/", host, self.settings.web_port)

    # -- operations ----------------------------------------------------------------------------------
    async def sample_load(self) -> None:
        sample = self.operations.sample()
        try:  # the optimizer and the alert rules take this worker's sample in-process, no round trip
            await self.operations.handle(sample)
        finally:
            await self.publisher.send("metrics", sample)  # published for dashboards and other consumers

    async def watch_lag(self) -> None:
        while True:  # optional machinery: a broker hiccup must never take the worker down with it
            try:
                await self.operations.watch_lag(self.settings.bootstrap_servers)
            except Exception as exc:
                log.warning("consumer-lag reader stopped (%s); restarting in 5 s", one_line(exc)["message"])
                await asyncio.sleep(5.0)

    async def watch_config(self) -> None:
        watcher = ConfigWatcher(self.settings, lambda _merged, changes: self.operations.reload(changes))
        await watcher.start()

    async def warm_pool(self) -> None:
        """Start the pool's processes (and their imports) while the consumer group forms."""
        results = await asyncio.gather(*(self.pool.run(tasks.warm) for _ in range(self.pool.size)),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):  # a job will find out again and retry; the worker stays up
                log.warning("warming the pool failed: %s", result)

    async def forward_progress(self) -> None:
        latest: dict[tuple[str, str], float] = {}
        for job_id, stage, fraction in self.pool.drain_progress():
            latest[(job_id, stage)] = fraction
        for (job_id, stage), fraction in latest.items():
            record = self.jobs.get(job_id)
            # Only for a stage still running here, on a partition this worker surely holds: a report queued before
            # the stage ended is stale, and during a rebalance (ownership unknown) the job's new owner may already
            # have finished it while this worker's pool process still renders (a scale-out run saw "exporting
            # 0.5" land after "done" so).
            if record and fraction < 1.0 and job_id in self.scheduler.running \
                    and self.owns(int(record.get("partition", -1))) is True:
                await self.publisher.send("job_status", events.status_event(
                    job_id, record["state"], stage, progress=fraction, attempts=record.get("attempts", 0)))

    async def expire_jobs(self) -> None:
        """Forget this worker's ended jobs past their retention: files first, then the record (job_expired)."""
        now = time.time()
        for record in self.records():
            partition = int(record.get("partition", -1))
            if not job_records.expired(record, now, self.settings.job_retention_s) \
                    or self.owns(partition) is not True \
                    or not self.applied.reached(self.topics.job_status, partition):
                continue
            files = JobFiles.of(self.settings, record, upload_dir=self.service.upload_dir())
            await asyncio.to_thread(files.remove_working)
            await self.publisher.send("job_status", events.new_event("job_expired", record["job_id"], at=now))
            log.info("job %s expired (ended %.0f s ago)", record["job_id"], now - float(record["updated_at"]))

    async def count_jobs(self) -> None:
        metrics.count_jobs(self.records())

    # -- web ---------------------------------------------------------------------------------------------
    async def submit(self, event: dict[str, Any]) -> None:
        """The API's submissions, on the input partition of their priority."""
        events.validate(event)
        partition = partition_for_priority(event["request"]["priority"])
        await self.publisher.channels["videos"].send(key=event["job_id"].encode(), value=orjson.dumps(event),
                                                     partition=partition)
        metrics.EVENTS.labels(self.topics.videos, "out").inc()

    async def metrics_page(self, web: Any, request: Any) -> Any:
        return web.bytes(metrics.render(), content_type="text/plain; version=0.0.4")

    async def job_page(self, web: Any, request: Any, job_id: str) -> Any:
        # Any worker answers for any job (service.get_job), so no redirect to the partition's owner.
        job = await self.service.get_job(job_id)
        if job is None:
            return web.json({"error": {"code": "job_unknown", "message": f"no job {job_id}"}}, status=404)
        return web.json(job_records.public_job(job))

    async def health_page(self, web: Any, request: Any) -> Any:
        held = sorted(tp.partition for tp in self.app.assignor.assigned_actives()
                      if tp.topic == self.topics.job_status)
        return web.json({"ok": True, "running": len(self.scheduler.running), "pool": self.pool.size,
                         "job_partitions": held})


def expiry_check_s(retention_s: float) -> float:
    """How often ended jobs are checked for expiry: a quarter of the retention, between 1 s and a minute."""
    return min(60.0, max(1.0, retention_s / 4)) if retention_s else 3600.0


def guarded(fn: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """Timers and tasks log their errors instead of crashing the worker (mode crashes on any)."""

    @functools.wraps(fn)
    async def wrapper() -> None:
        try:
            await fn()
        except Exception:
            log.exception("%s failed", fn.__name__)

    return wrapper


def _plain(fn: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """A task as a function of no arguments: Faust passes the app to any function whose code takes one, and a
    bound method's code counts ``self``."""

    @functools.wraps(fn)
    async def task() -> None:
        await fn()

    return task


def _view(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """A Faust page handler from a bound method: Faust calls its handlers as (view, request, **match)."""

    @functools.wraps(method)
    async def view(web: Any, request: Any, **match: Any) -> Any:
        return await method(web, request, **match)

    return view


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

    if not settings.web_port or not port_is_free(settings.web_host, settings.web_port):
        # No port asked for (0), or a second worker on the same machine: serve elsewhere rather than die on the bind.
        port = free_port(settings.web_host)
        if settings.web_port:
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
        app.streamapp_worker.pool.shutdown()  # type: ignore[attr-defined]
