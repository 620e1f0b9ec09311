"""The scheduler's choice, with a runner that only records what it was asked to run (no broker needed)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from streamapp.app import scheduler as scheduler_module
from streamapp.app.scheduler import Scheduler
from streamapp.settings import Settings


class RecordingRunner:
    def __init__(self) -> None:
        self.started: list[str] = []
        self.release = asyncio.Event()

    async def run(self, record: dict[str, Any]) -> None:
        # A job run at another state than its table's queued is named with that state.
        self.started.append(record["job_id"] + ("" if record["state"] == "queued" else f":{record['state']}"))
        await self.release.wait()


def queued(job_id: str, priority: str, created_at: float) -> dict[str, Any]:
    return {"job_id": job_id, "state": "queued", "priority": priority, "created_at": created_at,
            "request": {"path": f"/in/{job_id}.mp4"}, "partition": 0}


def test_a_submission_still_on_its_way_to_the_table_is_chosen_first() -> None:
    table = [queued("low-1", "low", 1.0), queued("low-2", "low", 2.0)]
    checks: list[int] = []

    async def caught_up(timeout_s: float) -> bool:
        # The agents apply a high job's queued event that was already in the log when the slot freed.
        checks.append(len(table))
        table.append(queued("high", "high", 3.0))
        return True

    async def scenario() -> list[str]:
        runner = RecordingRunner()
        scheduler = Scheduler(Settings(), runner, lambda: list(table), lambda p: True, capacity=lambda: 1,
                              caught_up=caught_up)
        loop = asyncio.create_task(scheduler.loop())
        while not runner.started:
            await asyncio.sleep(0.01)
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
        return runner.started

    assert asyncio.run(scenario()) == ["high"]
    assert checks == [2]


def test_without_free_capacity_the_scheduler_does_not_wait() -> None:
    table = [queued("low-1", "low", 1.0)]
    checks: list[float] = []

    async def caught_up(timeout_s: float) -> bool:
        checks.append(timeout_s)
        return True

    async def scenario() -> None:
        scheduler = Scheduler(Settings(), RecordingRunner(), lambda: list(table), lambda p: True,
                              capacity=lambda: 0, caught_up=caught_up)
        loop = asyncio.create_task(scheduler.loop())
        await asyncio.sleep(0.2)
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop

    asyncio.run(scenario())
    assert checks == []


def test_jobs_of_a_partition_not_yet_caught_up_wait_and_moved_jobs_stop_at_once() -> None:
    """A new owner may not know yet that a job ended (its done still on the way to the table): none of
    the partition's jobs start before its log is applied; a job whose partition went elsewhere stops."""
    table = [queued("a", "normal", 1.0), {**queued("b", "high", 2.0), "partition": 1}]
    caught_up_partitions: set[int] = set()

    async def catch_up(timeout_s: float) -> bool:
        caught_up_partitions.add(0)  # partition 1 stays behind (its log keeps the worker waiting)
        return False

    async def scenario() -> tuple[list[str], list[str], bool]:
        runner = RecordingRunner()
        moved: set[int] = set()
        scheduler = Scheduler(Settings(), runner, lambda: list(table), lambda p: p not in moved, capacity=lambda: 2,
                              caught_up=catch_up, applied_all=lambda p: p in caught_up_partitions)
        assert scheduler.pick(0.0) == []  # nothing is caught up yet
        assert [r["job_id"] for r in scheduler.pick(0.0, caught_up_only=False)] == ["b", "a"]
        loop = asyncio.create_task(scheduler.loop())
        while not runner.started:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        started = list(runner.started)
        task, _ = scheduler.running["a"]
        moved.add(0)  # partition 0 moved to another worker
        scheduler.release(lambda partition: partition not in moved)
        await asyncio.sleep(0)
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
        return started, [r["job_id"] for r in scheduler.pick(0.0)], task.cancelled() or task.cancelling() > 0

    started, picked_after, cancelled = asyncio.run(scenario())
    assert started == ["a"]  # "b" outranks it but its partition is not caught up
    assert cancelled
    assert picked_after == []


def test_a_partition_that_stays_behind_starts_its_jobs_from_their_own_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """The table of a stalled partition is stale: a job runs from its log's record, and one whose log says
    it ended never runs."""
    table = [{**queued("moved-on", "normal", 1.0), "partition": 1}, {**queued("ended", "high", 2.0), "partition": 1}]
    logs = {"moved-on": {**table[0], "state": "scoring", "stage": "score", "signals_path": "/s.npz",
                         "source": {"duration_s": 30.0}},
            "ended": {**table[1], "state": "done", "stage": "export"}}
    read: list[str] = []

    async def read_log(job_id: str) -> dict[str, Any] | None:
        read.append(job_id)
        return {k: v for k, v in logs[job_id].items() if k != "partition"}

    async def scenario() -> tuple[list[dict[str, Any]], list[str]]:
        seen: list[dict[str, Any]] = []

        class Runner(RecordingRunner):
            async def run(self, record: dict[str, Any]) -> None:
                seen.append(record)
                await self.release.wait()

        scheduler = Scheduler(Settings(), Runner(), lambda: list(table), lambda p: True, capacity=lambda: 2,
                              applied_all=lambda p: False, read_log=read_log)
        scheduler.tick()  # nothing starts from the stale table
        await scheduler.start_from_log()  # the first sight of a job behind only starts its clock
        assert read == []
        monkeypatch.setattr(scheduler_module, "LOG_CHECK_EVERY_S", 0.0)
        await scheduler.start_from_log()
        await scheduler.start_from_log()  # neither is read again: one runs, the other ended
        await asyncio.sleep(0)
        for task, _ in scheduler.running.values():
            task.cancel()
        return seen, sorted(read)

    seen, read_ids = asyncio.run(scenario())
    assert [(r["job_id"], r["state"], r["partition"]) for r in seen] == [("moved-on", "scoring", 1)]
    assert read_ids == ["ended", "moved-on"]


def test_a_record_from_the_changelog_is_checked_against_its_log_once_before_it_starts() -> None:
    """After an assignment the table's records come from its changelog, which the embedded broker can leave
    short: a job that failed there shows as queued. Its own log is read before it starts; a record the
    worker's agent has folded an event into since the assignment starts without that read."""
    table = [queued("failed-already", "high", 1.0), queued("still-queued", "normal", 2.0),
             queued("folded-since", "low", 3.0), queued("scored-already", "low", 4.0)]
    logs = {"failed-already": {**table[0], "state": "failed", "stage": "extract"},
            "still-queued": table[1], "folded-since": table[2],
            "scored-already": {**table[3], "state": "exporting", "stage": "export", "source": {}, "signals_path": "s",
                               "candidates": []}}
    read: list[str] = []

    async def read_log(job_id: str) -> dict[str, Any] | None:
        read.append(job_id)
        return dict(logs[job_id])

    async def scenario() -> tuple[list[str], Scheduler]:
        runner = RecordingRunner()
        scheduler = Scheduler(Settings(), runner, lambda: list(table), lambda p: True, capacity=lambda: 4,
                              read_log=read_log)
        scheduler.forget_confirmations()  # an assignment
        scheduler.confirmed.add("folded-since")  # the agent folded an event of this job since
        scheduler.tick()
        for _ in range(5):
            await asyncio.sleep(0)
        for task, _ in scheduler.running.values():
            task.cancel()
        return runner.started, scheduler

    started, scheduler = asyncio.run(scenario())
    # The job whose table missed its later events for good runs from its log, at its logged stage.
    assert sorted(started) == ["folded-since", "scored-already:exporting", "still-queued"]
    assert sorted(read) == ["failed-already", "scored-already", "still-queued"]
    assert "failed-already" in scheduler.ended_in_log and "still-queued" in scheduler.confirmed


def test_a_record_missing_what_its_stage_reads_runs_from_its_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """A killed owner committed the scoring event's offset but lost the table's changelog write of it: the
    record at exporting lacks source and signals_path, and no later event will bring them. Its log has
    them: the job runs from there (before, it waited forever)."""
    full = {**queued("half", "normal", 1.0), "state": "exporting", "stage": "export", "source": {"fps": 25.0},
            "signals_path": "/s.npz", "candidates": [{"start_s": 0.0, "end_s": 5.0}]}
    table = [{k: v for k, v in full.items() if k not in ("source", "signals_path")}]
    monkeypatch.setattr(scheduler_module, "LOG_CHECK_EVERY_S", 0.0)

    async def read_log(job_id: str) -> dict[str, Any] | None:
        return {k: v for k, v in full.items() if k != "partition"}

    async def scenario() -> list[str]:
        runner = RecordingRunner()
        scheduler = Scheduler(Settings(), runner, lambda: list(table), lambda p: True, capacity=lambda: 2,
                              read_log=read_log)
        scheduler.tick()  # not runnable from the table
        assert not scheduler.running
        await scheduler.start_from_log()
        for _ in range(5):
            await asyncio.sleep(0)
        for task, _ in scheduler.running.values():
            task.cancel()
        return runner.started

    assert asyncio.run(scenario()) == ["half:exporting"]


class CancellableRunner(RecordingRunner):
    """Records the events the scheduler sends; its pool has no work left once a stage is cancelled."""

    def __init__(self, exported: set[str]) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, str, str | None]] = []
        self.exported = exported
        self.pool = self

    async def settle(self, job_id: str, timeout_s: float) -> bool:
        return True

    async def announce_if_exported(self, record: dict[str, Any]) -> bool:
        return record["job_id"] in self.exported

    async def send(self, role: str, event: dict[str, Any]) -> None:
        error = event.get("error") or {}
        self.sent.append((role, event["type"], event["job_id"], error.get("code")))


def test_a_cancel_stops_the_running_stage_removes_the_files_and_ends_the_job(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    out = tmp_path / "out"

    def live(job_id: str, state: str, **extra: Any) -> dict[str, Any]:
        return {**queued(job_id, "normal", 1.0), "state": state, "cancel_requested": 5.0,
                "request": {"path": "/in.mp4", "out_dir": str(out)}, **extra}

    table = [queued("runs", "normal", 1.0), live("waits", "queued"), live("ended-here", "scoring"),
             live("exported", "exporting")]
    table[0]["request"] = {"path": "/in.mp4", "out_dir": str(out)}
    for job_id in ("runs", "waits"):
        (out / job_id).mkdir(parents=True)
        (out / job_id / "clip-01-hello.mp4").write_bytes(b"a clip of a partial export")
        (settings.jobs_dir / job_id).mkdir(parents=True)
        (settings.jobs_dir / job_id / "signals.npz").write_bytes(b"signals")

    async def scenario() -> tuple[CancellableRunner, Scheduler, asyncio.Task[None]]:
        runner = CancellableRunner(exported={"exported"})
        scheduler = Scheduler(settings, runner, lambda: list(table), lambda p: True, capacity=lambda: 4,
                              ended=lambda job_id: job_id == "ended-here")
        scheduler.tick()  # "runs" starts; the others carry a cancel and never start
        await asyncio.sleep(0)
        task = scheduler.running["runs"][0]
        table[0] = {**table[0], "state": "extracting", "cancel_requested": 6.0, "cancel_reason": "oops"}
        scheduler.tick()
        for _ in range(50):
            await asyncio.sleep(0.01)
        scheduler.tick()  # a second pass starts no second cancel
        await asyncio.sleep(0.05)
        return runner, scheduler, task

    runner, scheduler, task = asyncio.run(scenario())
    assert runner.started == ["runs"] and task.cancelled()
    # The job's end goes out result first, once for each cancelled job; the job that ended here and the one
    # whose export had finished keep their ends.
    assert sorted(runner.sent) == sorted([
        ("results", "job_failed", "runs", "cancelled"), ("job_status", "job_status", "runs", "cancelled"),
        ("results", "job_failed", "waits", "cancelled"), ("job_status", "job_status", "waits", "cancelled")])
    assert [e[0] for e in runner.sent if e[2] == "runs"] == ["results", "job_status"]
    for job_id in ("runs", "waits"):
        assert not (out / job_id).exists() and not (settings.jobs_dir / job_id).exists()
    assert set(scheduler.cancels) == {"runs", "waits", "ended-here", "exported"}


class EditingRunner:
    """Applies edits by recording them; ``faults`` edit id -> exceptions to raise first, in turn."""

    def __init__(self, faults: dict[str, list[Exception]]) -> None:
        self.faults = faults
        self.applied: list[str] = []
        self.refused: list[tuple[str, str, int]] = []

    async def edit(self, record: dict[str, Any], edit: dict[str, Any]) -> None:
        if self.faults.get(edit["edit_id"]):
            raise self.faults[edit["edit_id"]].pop(0)
        self.applied.append(edit["edit_id"])

    async def refuse_edit(self, record: dict[str, Any], edit: dict[str, Any], exc: Exception, attempts: int) -> bool:
        self.refused.append((edit["edit_id"], type(exc).__name__, attempts))
        return True


def done_with_edits(*edit_ids: str) -> dict[str, Any]:
    return {"job_id": "j", "state": "done", "partition": 0, "request": {"path": "/in/j.mp4"},
            "edits": [{"edit_id": e, "clip_id": "j-01", "state": "pending", "at": float(i), "request": {}}
                      for i, e in enumerate(edit_ids)]}


def run_edits(record: dict[str, Any], runner: EditingRunner, ticks: int = 60) -> None:
    """The scheduler's edit ticks, with the table folding each outcome (an applied or refused edit leaves
    the record's pending edits), until none is left or ``ticks`` have passed."""
    settings = Settings(retry_base_s=0.01, retry_cap_s=0.01, max_attempts=3)

    async def scenario() -> None:
        scheduler = Scheduler(settings, runner, lambda: [record], lambda p: True, capacity=lambda: 1)
        for _ in range(ticks):
            scheduler.start_edits(scheduler_module.time.time())
            await asyncio.sleep(0.02)
            ended = set(runner.applied) | {r[0] for r in runner.refused}
            record["edits"] = [e for e in record["edits"] if e["edit_id"] not in ended]
            if not record["edits"]:
                break

    asyncio.run(scenario())


def test_edits_apply_in_log_order_a_retry_holds_back_the_later_ones_and_a_lasting_fault_is_refused() -> None:
    from streamapp.errors import TransientError

    runner = EditingRunner({"e1": [TransientError("pool process died", code="worker_process_died")],
                            "e3": [KeyError("request")]})
    run_edits(done_with_edits("e1", "e2", "e3"), runner)
    assert runner.applied == ["e1", "e2"]  # e2 waited for e1's retry: never applied before it
    assert runner.refused == [("e3", "KeyError", 1)]  # not a passing fault: refused at once, with its reason


def test_a_pool_failure_that_lasts_refuses_the_edit_after_the_attempts() -> None:
    from streamapp.errors import TransientError

    runner = EditingRunner({"e1": [TransientError("pool process died", code="worker_process_died")] * 5})
    run_edits(done_with_edits("e1"), runner)
    assert runner.applied == [] and runner.refused == [("e1", "TransientError", 3)]


def test_a_job_that_waits_long_for_a_rule_no_one_lifts_is_reported_with_the_reason() -> None:
    now = 10_000.0
    stale = now - 300
    table = [
        {**queued("unknown-owner", "normal", stale), "updated_at": stale, "partition": 1},
        {**queued("behind", "normal", stale), "updated_at": stale, "partition": 2},
        {**queued("fresh", "normal", now), "updated_at": now - 5, "partition": 2},
        {**queued("elsewhere", "normal", stale), "updated_at": stale, "partition": 3},
        {**queued("retrying", "normal", stale), "updated_at": stale, "partition": 0, "retry_at": now + 30},
    ]
    owners = {0: True, 1: None, 2: True, 3: False}
    scheduler = Scheduler(Settings(), RecordingRunner(), lambda: table, lambda p: owners[p], capacity=lambda: 1,
                          applied_all=lambda p: p != 2)
    lines = scheduler.report_waiting(now)
    assert len(lines) == 2, lines  # not the fresh job, not another worker's, not a pending retry
    assert "unknown-owner" in lines[0] and "ownership unknown" in lines[0] and "300 s" in lines[0]
    assert "behind" in lines[1] and "job-status[2] not caught up" in lines[1]
    assert scheduler.report_waiting(now + 10) == []  # once per minute a job
    # A minute on: named again, and so are the job that has now waited long too and the one whose retry is due.
    again = scheduler.report_waiting(now + 61)
    assert [line.split()[1] for line in again] == ["unknown-owner", "behind", "fresh", "retrying"], again
    assert "should have started" in again[3]
    # The same job behind a full pool is an ordinary backlog.
    busy = Scheduler(Settings(), RecordingRunner(), lambda: table, lambda p: True, capacity=lambda: 0)
    assert busy.report_waiting(now) == []
