"""The scheduler: runs the next stage of the jobs this worker owns, most urgent first.

The jobs table is the durable record of work (not the consumer offset): after a restart or a
rebalance the table is restored from its changelog and every unfinished job found there is run
again from its current stage. Priority is applied here, in front of the pool, so a high-priority
job queued behind a backlog of low ones starts before any of them that has not started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiokafka.errors import KafkaError

from streamapp import events, metrics
from streamapp.app.job_files import JobFiles
from streamapp.app.jobs import (
    RANK,
    STAGE_OF_STATE,
    TERMINAL,
    backoff_s,
    cancelling,
    incomplete,
    pending_edits,
    runnable,
    schedule_key,
)
from streamapp.app.runner import StageRunner
from streamapp.errors import JobCancelled, StreamappError
from streamapp.settings import Settings

log = logging.getLogger("streamapp.scheduler")

# After a stage records the job's next state, wait this long for the table to show it before concluding the
# event was lost and running the stage again.
HANDOFF_TIMEOUT_S = 120.0
# Before starting a job, wait at most this long for the agents to apply the events already in their logs
# (a submission on its way to the table may outrank the waiting jobs).
CATCH_UP_TIMEOUT_S = 2.0
# How often a job on a partition that stays behind has its own log read instead (start_from_log).
LOG_CHECK_EVERY_S = 5.0
# A live job that has not moved for this long is reported with the reason it waits (report_waiting).
WAIT_REPORT_S = 60.0
# Why a job may wait long without anything being wrong (report_waiting names the others).
_NORMAL_WAITS = ("running", "retry pending", "cancelling", "its log says it ended", "another worker's partition",
                 "its next state is on its way to the table")
# How long a cancel waits for the job's work already running in the pool (one clip's render at most) before
# it removes the job's files anyway.
CANCEL_SETTLE_S = 120.0


def one_line(exc: BaseException) -> dict[str, str]:
    """An error as a code and a single line, never a traceback."""
    if isinstance(exc, StreamappError):
        return {"code": exc.code, "message": exc.message[:500]}
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return {"code": "internal_error", "message": f"{type(exc).__name__}: {text}"[:500]}


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, StreamappError):
        return not exc.permanent
    return isinstance(exc, KafkaError | ConnectionError | TimeoutError | asyncio.TimeoutError) or (
        isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError | IsADirectoryError | PermissionError)
    )


class Scheduler:
    def __init__(
        self,
        settings: Settings,
        runner: StageRunner,
        records: Callable[[], Iterable[dict[str, Any]]],
        owns: Callable[[int], bool | None],
        capacity: Callable[[], int],
        caught_up: Callable[[float], Awaitable[bool]] | None = None,
        applied_all: Callable[[int], bool] | None = None,
        read_log: Callable[[str], Awaitable[dict[str, Any] | None]] | None = None,
        ended: Callable[[str], bool] | None = None,
    ) -> None:
        self.settings = settings
        self.runner = runner
        self._records = records
        self._owns = owns
        self._capacity = capacity
        self._caught_up = caught_up
        # Whether this worker has applied every event its job-status partition held when it got it. Until
        # then the table may not know of a job's end (a done still on its way), so none of its jobs start.
        self._applied_all = applied_all or (lambda partition: True)
        # A job's record folded from its own log: the truth for a job whose partition is not caught up.
        self._read_log = read_log
        self._log_checked: dict[str, float] = {}  # job id -> when its log was last read for that
        self.ended_in_log: set[str] = set()  # jobs a stale table shows running whose log says they ended
        # Jobs whose record this worker's own agent has folded an event into since its last assignment. Any
        # other record came from the table's changelog recovery, which the embedded broker can leave short
        # (a job that ended shows as queued): such a job's own log is read once before it starts.
        self.confirmed: set[str] = set()
        self.running: dict[str, tuple[asyncio.Task[None], int]] = {}
        self.handed_off: dict[str, tuple[int, float]] = {}
        # A failure or a retry is recorded through Kafka; until the table shows it, these keep the job
        # from being picked again at once.
        self.retry_after: dict[str, float] = {}
        self.wake = asyncio.Event()
        # Whether this worker has published the job's end itself (the table may not show it yet).
        self._ended = ended or (lambda job_id: False)
        self.cancels: dict[str, tuple[asyncio.Task[None], float]] = {}  # job id -> its cancel, when it began
        self.edits: dict[str, tuple[asyncio.Task[None], float]] = {}  # job id -> its edits' task, when it began
        self.edits_done: dict[str, float] = {}  # edit id -> when this worker announced its outcome
        self.edit_retry: dict[str, tuple[int, float]] = {}  # edit id -> (failed attempts, next try at)
        self.edit_partitions: dict[str, int] = {}  # job id -> the partition its edits' task runs for
        self._reported: dict[str, float] = {}  # job id -> when report_waiting last named it

    def owns(self, partition: int) -> bool | None:
        """Whether this worker holds job-status partition ``partition`` (so its jobs); None while a
        rebalance or the table's recovery makes that unknown."""
        return self._owns(partition)

    def pick(self, now: float, caught_up_only: bool = True) -> list[dict[str, Any]]:
        """The jobs to start now, in order, given free capacity (with ``caught_up_only`` False: those that
        would be, once their partitions are caught up)."""
        free = self._capacity() - len(self.running)
        if free <= 0:
            return []
        ready = [record for record in self._records()
                 if record and self.waiting_reason(record, now, caught_up_only) is None]
        ready.sort(key=schedule_key)
        return ready[:free]

    def waiting_reason(self, record: dict[str, Any], now: float, caught_up_only: bool = True) -> str | None:
        """Why this live record is not started now (None: it may start, capacity allowing). The one statement
        of the rules ``pick`` applies, so that a job that waits long can say why (``report_waiting``)."""
        job_id = record["job_id"]
        partition = int(record.get("partition", -1))
        if job_id in self.running:
            return "running"
        if not runnable(record, now):
            if float(record.get("retry_at") or 0.0) > now:
                return "retry pending"
            return "cancelling" if record.get("cancel_requested") else "its record lacks what its stage reads"
        if job_id in self.ended_in_log:
            return "its log says it ended"
        owner = self._owns(partition)
        if owner is not True:
            return "another worker's partition" if owner is False else "ownership unknown (rebalance or recovery)"
        if caught_up_only and not self._applied_all(partition):
            return f"job-status[{partition}] not caught up"
        if now < self.retry_after.get(job_id, 0.0):
            return "retry pending"
        expected = self.handed_off.get(job_id)
        if expected and RANK[record["state"]] < expected[0] and now - expected[1] < HANDOFF_TIMEOUT_S:
            return "its next state is on its way to the table"
        return None

    def report_waiting(self, now: float, after_s: float = WAIT_REPORT_S) -> list[str]:
        """One line for each live job of this worker's partitions that has not moved for ``after_s`` and waits for
        a reason nothing here is working on (a rule no one lifts shows here, not only as a stuck job); a backlog
        waiting for pool slots, retries and hand-offs are normal and not reported. At most once per ``after_s``
        a job."""
        lines = []
        free = len(self.running) < self._capacity()
        for record in self._records():
            if not record or record.get("state") not in STAGE_OF_STATE:
                continue
            job_id = record["job_id"]
            still = now - float(record.get("updated_at") or now)
            if still < after_s or now - self._reported.get(job_id, 0.0) < after_s:
                continue
            reason = self.waiting_reason(record, now)
            if reason in _NORMAL_WAITS or (reason is None and not free):
                continue
            self._reported[job_id] = now
            lines.append(f"job {job_id} has been {record['state']} for {still:.0f} s on job-status["
                         f"{record.get('partition', -1)}]; waiting because: "
                         f"{reason or 'nothing (a pool slot is free): it should have started'}")
        return lines

    def forget_confirmations(self) -> None:
        """At an assignment: every record not folded since may have come from a short changelog recovery."""
        self.confirmed.clear()

    async def _to_run(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """The record to run: ``record`` itself when this worker's agent has confirmed it; otherwise the
        job's record folded from its own log, or None when that log says the job ended (or has nothing
        runnable yet)."""
        job_id = record["job_id"]
        if job_id in self.confirmed or self._read_log is None:
            return record
        logged = await self._read_log(job_id)
        if logged is None:
            return record  # the log could not be read: the catch-up gate already passed, go on
        if logged["state"] in TERMINAL:
            log.info("job %s: the table shows %s but its log says it ended (%s); not started", job_id,
                     record["state"], logged["state"])
            self.ended_in_log.add(job_id)
            return None
        if cancelling(logged):
            return None  # its cancel is in the log: the table will show it, and the cancel runs from there
        self.confirmed.add(job_id)
        if RANK[logged["state"]] > RANK[record["state"]]:
            # The table missed later events for good (they came before the assignment): run from the log.
            log.info("job %s: the table shows %s, its log %s; running from the log", job_id, record["state"],
                     logged["state"])
            logged = {**logged, "partition": record.get("partition", -1)}
            return logged if runnable(logged, time.time()) else None
        return record

    def release(self, kept: Callable[[int], bool]) -> None:
        """Stop the jobs whose partition this worker no longer holds (``kept`` says which it does), at once:
        their new owner may start them as soon as it has caught up, and two runs must not overlap."""
        for job_id, (task, partition) in list(self.running.items()):
            if not kept(partition) and not task.done():
                log.info("job %s moved to another worker; letting it go", job_id)
                task.cancel()
        for job_id, (task, _) in list(self.edits.items()):
            if not task.done() and not kept(self.edit_partitions.get(job_id, -1)):
                log.info("job %s moved to another worker; its edits go with it", job_id)
                task.cancel()

    def tick(self) -> None:
        now = time.time()
        # Only a settled assignment without the partition means the job moved; a rebalance that keeps it
        # must not interrupt the work.
        self.release(lambda partition: self._owns(partition) is not False)
        # Forget what is long past (never a task still running).
        for memo in (self.handed_off, self.retry_after, self._log_checked, self.cancels, self.edits,
                     self.edits_done, self.edit_retry, self._reported):
            for key in [k for k, v in memo.items() if now - (v[1] if isinstance(v, tuple) else v) > 3600
                        and not (isinstance(v, tuple) and isinstance(v[0], asyncio.Task) and not v[0].done())]:
                memo.pop(key, None)
        self.start_cancels(now)
        self.start_edits(now)
        for record in self.pick(now):
            self._start(record)
        for line in self.report_waiting(now):
            log.warning(line)
        metrics.POOL_BUSY.labels("all").set(len(self.running))

    def start_cancels(self, now: float) -> None:
        """Carry out the cancels the table shows for jobs of this worker's partitions, one task per job. A cancel
        whose end did not reach the table (the broker was away) is tried again after HANDOFF_TIMEOUT_S."""
        for record in self._records():
            if not record or not cancelling(record) or self._owns(int(record.get("partition", -1))) is not True:
                continue
            job_id = record["job_id"]
            earlier = self.cancels.get(job_id)
            if earlier is not None and (not earlier[0].done() or now - earlier[1] < HANDOFF_TIMEOUT_S):
                continue
            self.cancels[job_id] = (asyncio.create_task(self._cancel(record), name=f"cancel-{job_id}"), now)

    def start_edits(self, now: float) -> None:
        """Render the pending clip edits the table shows for done jobs of this worker's partitions, once the table
        has caught up with the partition; one task per job takes its edits in log order. An edit whose outcome this
        worker announced but the table does not show yet is left alone for HANDOFF_TIMEOUT_S, then announced
        again (the manifest says it is applied); one waiting for a retry holds back those after it."""
        for record in self._records():
            partition = int(record.get("partition", -1)) if record else -1
            if not record or self._owns(partition) is not True or not self._applied_all(partition):
                continue
            earlier = self.edits.get(record["job_id"])
            if earlier is not None and not earlier[0].done():
                continue
            waiting = []
            for edit in pending_edits(record):
                if now - self.edits_done.get(edit["edit_id"], 0.0) <= HANDOFF_TIMEOUT_S:
                    continue  # applied and announced: the table will show it
                if now < self.edit_retry.get(edit["edit_id"], (0, 0.0))[1]:
                    break
                waiting.append(edit)
            if waiting:
                task = asyncio.create_task(self._edit(record, waiting), name=f"edit-{record['job_id']}")
                self.edits[record["job_id"]] = (task, now)
                self.edit_partitions[record["job_id"]] = partition

    async def _edit(self, record: dict[str, Any], edits: list[dict[str, Any]]) -> None:
        for edit in edits:
            try:
                await self.runner.edit(record, edit)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures = self.edit_retry.get(edit["edit_id"], (0, 0.0))[0] + 1
                if is_transient(exc) and failures < self.settings.max_attempts:  # the broker or a pool process
                    delay = backoff_s(failures, self.settings.retry_base_s, self.settings.retry_cap_s)
                    log.warning("job %s: edit %s failed for now (%s), attempt %d; retrying in %.1f s",
                                record["job_id"], edit["edit_id"], one_line(exc)["message"], failures, delay)
                    self.edit_retry[edit["edit_id"]] = (failures, time.time() + delay)
                    return  # the later edits wait for this one
                log.warning("job %s: edit %s refused after %d attempt(s): %s", record["job_id"], edit["edit_id"],
                            failures, one_line(exc)["message"])
                if not await self.runner.refuse_edit(record, edit, exc, failures):
                    self.edit_retry[edit["edit_id"]] = (failures, time.time() + HANDOFF_TIMEOUT_S / 4)
                    return
            self.edits_done[edit["edit_id"]] = time.time()

    async def _cancel(self, record: dict[str, Any]) -> None:
        """Stop the job's stage, wait for its pool work, remove its files, and record its end ("cancelled").
        A job whose end this worker has published meanwhile, or whose export had finished, is not cancelled:
        its end stands (a cancel is a request, and "done" is never taken back)."""
        job_id = record["job_id"]
        files = JobFiles.of(self.settings, record)
        running = self.running.get(job_id)
        if running is not None:
            running[0].cancel()  # before the stop mark: its stage must not end the job itself on seeing the mark
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([running[0]])
        await asyncio.to_thread(files.mark_stopped)
        if not await self.runner.pool.settle(job_id, CANCEL_SETTLE_S):
            log.warning("job %s: its pool work still runs %.0f s after the cancel; removing its files anyway",
                        job_id, CANCEL_SETTLE_S)
        if self._ended(job_id):
            log.info("job %s ended before its cancel took effect; left as it is", job_id)
            return
        if await self.runner.announce_if_exported(record):
            log.info("job %s had finished its export when the cancel came; it is done", job_id)
            return
        await asyncio.to_thread(files.remove_outputs)
        await asyncio.to_thread(files.remove_working)
        reason = record.get("cancel_reason")
        await self._handle_failure(record, JobCancelled(f"cancelled on request{': ' + reason if reason else ''}"))
        self.wake.set()

    def _start(self, record: dict[str, Any]) -> None:
        task = asyncio.create_task(self._run(record), name=f"job-{record['job_id']}")
        self.running[record["job_id"]] = (task, int(record.get("partition", -1)))

    async def start_from_log(self) -> None:
        """Jobs whose partition is still not caught up after the wait (the embedded broker can leave a new
        owner's fetch of a partition idle after a rebalance), and jobs whose record lacks what its stage
        reads (``_incomplete``). Each such job is started only from its record folded from its own log,
        which holds its latest event; a job whose log says it ended is never started."""
        if self._read_log is None:
            return
        now = time.time()
        behind = [r for r in self.pick(now, caught_up_only=False) if not self._applied_all(int(r.get("partition", -1)))]
        for record in behind + self._incomplete():
            partition, job_id = int(record.get("partition", -1)), record["job_id"]
            if now - self._log_checked.setdefault(job_id, now) < LOG_CHECK_EVERY_S:
                continue  # first seen behind just now, or read lately: give the agent its chance first
            self._log_checked[job_id] = now
            logged = await self._read_log(job_id)
            if logged is None or self._owns(partition) is not True or job_id in self.running:
                continue
            if logged["state"] in TERMINAL:
                self.ended_in_log.add(job_id)
                continue
            if runnable(logged, time.time()) and RANK[logged["state"]] >= RANK[record["state"]]:
                log.info("job %s: %s; starting it from its log (%s)", job_id,
                         "its record lacks what its stage reads" if incomplete(record) else
                         "its partition is not caught up", logged["state"])
                self.confirmed.add(job_id)  # just read from its log
                self._start({**logged, "partition": partition})

    def _incomplete(self) -> list[dict[str, Any]]:
        """Live records of this worker's partitions that lack what their stage reads. The event that carried
        it may come later (one Faust skipped and republished); but not when a killed owner had committed the
        event's offset and lost the table's changelog write of it (Faust writes the two apart): the new
        owner folds the next event onto an older record, and every later owner recovers that record. So
        after LOG_CHECK_EVERY_S such a job runs from its log (a 2-worker fault run had one job stuck so)."""
        return [r for r in self._records() if r and incomplete(r) and r["job_id"] not in self.running
                and r["job_id"] not in self.ended_in_log and self._owns(int(r.get("partition", -1))) is True]

    async def loop(self) -> None:
        while True:
            try:
                if self._caught_up is not None and self.pick(time.time(), caught_up_only=False):
                    await self._caught_up(CATCH_UP_TIMEOUT_S)  # False (timed out): the log decides below
                self.tick()
                await self.start_from_log()
            except Exception:  # the loop must outlive any single bad record
                log.exception("scheduler tick failed")
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that arrives as the
            # event is set, and the loop would then outlive the worker's shutdown.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self.wake.wait()
            self.wake.clear()

    async def _run(self, record: dict[str, Any]) -> None:
        job_id = record["job_id"]
        try:
            checked = await self._to_run(record)
            if checked is None:
                return
            record = checked
            await self.runner.run(record)
            self.handed_off[job_id] = (RANK[record["state"]] + (2 if record["state"] == "queued" else 1), time.time())
        except asyncio.CancelledError:
            raise
        except JobCancelled:
            pass  # the stage ran into the stop mark of a cancel, which ends the job itself (_cancel)
        except Exception as exc:
            await self._handle_failure(record, exc)
        finally:
            self.running.pop(job_id, None)
            self.wake.set()

    async def _handle_failure(self, record: dict[str, Any], exc: Exception) -> None:
        job_id = record["job_id"]
        stage = STAGE_OF_STATE[record["state"]]
        error = one_line(exc)
        attempts = int(record.get("attempts", 0)) + 1
        try:
            if is_transient(exc) and attempts < self.settings.max_attempts:
                delay = backoff_s(attempts, self.settings.retry_base_s, self.settings.retry_cap_s)
                log.warning("job %s: %s in %s, attempt %d, retrying in %.1f s", job_id, error["code"], stage,
                            attempts, delay)
                self.retry_after[job_id] = time.time() + delay
                # A queued job had moved to extracting when it started: the retry must not go backwards.
                state = "extracting" if record["state"] == "queued" else record["state"]
                await self.runner.send("job_status", events.status_event(
                    job_id, state, stage, attempts=attempts, error=error, retry_at=time.time() + delay))
                return
            if is_transient(exc):
                error = {"code": error["code"],
                         "message": f"gave up after {attempts} attempts: {error['message']}"[:500]}
            if isinstance(exc, JobCancelled):
                log.info("job %s cancelled in %s", job_id, stage)
            elif isinstance(exc, StreamappError):
                log.warning("job %s failed in %s: %s", job_id, stage, exc)
            else:
                log.error("job %s failed in %s", job_id, stage, exc_info=exc)
            self.handed_off[job_id] = (RANK["failed"], time.time())
            metrics.FAILURES.labels(error["code"]).inc()
            metrics.JOBS_FINISHED.inc()
            # The result first: once the status says failed, the job is never run again.
            await self.runner.send("results", events.new_event(
                "job_failed", job_id, error=error, stage=stage, path=record["request"]["path"], at=time.time()))
            await self.runner.send("job_status", events.status_event(
                job_id, "failed", stage, attempts=attempts, error=error))
        except Exception:  # the broker is down too: the record stays live and the job runs again later
            log.exception("job %s: could not record its failure; it will run again", job_id)
