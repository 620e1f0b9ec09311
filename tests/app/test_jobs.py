"""Job records folded from job-status events: pure functions."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from streamapp.app import jobs
from streamapp.app.jobs import RANK, backoff_s, fold, fold_into, runnable, schedule_key
from streamapp.events import new_event, status_event

REQUEST = {"path": "/v.mp4", "options": {}, "priority": "normal", "out_dir": "/out"}


def event(state: str, stage: str = "extract", **extra):
    return status_event("job1", state, stage, **extra)


def test_fold_builds_a_record_and_keeps_the_request() -> None:
    record = fold(None, event("queued", "submit", request=REQUEST, priority="normal"), partition=2)
    assert record["state"] == "queued" and record["request"] == REQUEST and record["partition"] == 2
    record = fold(record, event("extracting", progress=0.5))
    assert record["state"] == "extracting" and record["progress"] == 0.5 and record["request"] == REQUEST


def test_fold_never_moves_backwards_nor_leaves_an_end() -> None:
    record = fold(None, event("queued", "submit", request=REQUEST))
    record = fold(record, event("scoring", "score"))
    assert fold(record, event("extracting")) is None  # a late progress event of an earlier stage
    done = fold(record, event("done", "export", progress=1.0))
    assert done["state"] == "done"
    assert fold(done, event("exporting", "export")) is None
    assert fold(done, event("failed", "export", error={"code": "x", "message": "y"})) is None


def test_a_cancel_marks_a_live_job_until_its_end_and_an_expiry_forgets_only_ended_jobs() -> None:
    table: dict = {}
    cancel = new_event("job_cancel", "job1", at=5.0, reason="wrong file")
    assert fold_into(table, cancel) is None and table == {}  # not in the log yet: nothing to mark
    fold_into(table, event("queued", "submit", request=REQUEST))
    marked = fold_into(table, cancel)
    assert marked["cancel_requested"] == 5.0 and marked["cancel_reason"] == "wrong file"
    assert jobs.cancelling(marked) and not runnable(marked, now=1e12) and not jobs.incomplete(marked)
    assert fold_into(table, new_event("job_cancel", "job1", at=6.0)) is None  # the first request stands
    assert fold_into(table, new_event("job_expired", "job1", at=7.0)) is None and "job1" in table  # still live
    ended = fold_into(table, event("failed", "extract", error={"code": "cancelled", "message": "cancelled"}))
    assert ended["state"] == "failed" and not jobs.cancelling(ended)
    assert fold_into(table, new_event("job_cancel", "job1", at=8.0)) is None  # an end is never taken back
    assert fold_into(table, new_event("job_expired", "job1", at=9.0)) is jobs.FORGET and table == {}
    assert fold_into(table, new_event("video_submitted", "job1", request=REQUEST, submitted_at=1.0)) is None


def test_retry_at_lasts_until_the_state_changes() -> None:
    record = fold(None, event("queued", "submit", request=REQUEST))
    record = fold(record, event("queued", "extract", attempts=1, retry_at=2000.0))
    assert record["retry_at"] == 2000.0 and record["attempts"] == 1
    assert not runnable(record, now=1999.0) and runnable(record, now=2000.0)
    record = fold(record, event("extracting"))
    assert "retry_at" not in record and record["attempts"] == 1


def test_schedule_key_orders_priority_then_progress_then_age() -> None:
    jobs = [
        {"job_id": "old-low", "state": "queued", "priority": "low", "created_at": 1},
        {"job_id": "new-high", "state": "queued", "priority": "high", "created_at": 9},
        {"job_id": "normal-exporting", "state": "exporting", "priority": "normal", "created_at": 5},
        {"job_id": "normal-queued", "state": "queued", "priority": "normal", "created_at": 2},
    ]
    assert [j["job_id"] for j in sorted(jobs, key=schedule_key)] == [
        "new-high", "normal-exporting", "normal-queued", "old-low"]


@given(st.integers(min_value=1, max_value=30), st.floats(min_value=0.01, max_value=10),
       st.floats(min_value=0.01, max_value=600), st.integers(min_value=0, max_value=2**32 - 1))
def test_backoff_is_bounded_and_grows(attempt: int, base: float, cap: float, seed: int) -> None:
    delay = backoff_s(attempt, base, cap, random.Random(seed))
    assert 0.0 <= delay <= min(cap, base * 2 ** (attempt - 1)) + 1e-9


def test_ranks_are_ordered() -> None:
    assert RANK["queued"] < RANK["extracting"] < RANK["scoring"] < RANK["exporting"] < RANK["done"]


def test_ended_jobs_remember_ends_up_to_a_limit() -> None:
    ended = jobs.EndedJobs(limit=2)
    for job_id in ("a", "b", "c"):
        ended.note(job_id)
    assert "a" not in ended and "b" in ended and "c" in ended
    assert jobs.ends_job({"type": "job_done", "job_id": "x"})
    assert jobs.ends_job({"type": "job_status", "job_id": "x", "state": "failed"})
    assert not jobs.ends_job({"type": "job_status", "job_id": "x", "state": "exporting"})
    assert not jobs.ends_job({"type": "clip_ready", "job_id": "x"})


def test_public_job_hides_internals() -> None:
    record = fold(None, event("queued", "submit", request={**REQUEST, "path": "/in/a.mp4", "priority": "high"}))
    record = fold(record, event("exporting", "export", signals_path="/data/s.npz"))
    shown = jobs.public_job(record)
    assert shown["state"] == "exporting" and shown["path"] == "/in/a.mp4" and shown["priority"] == "high"
    assert "signals_path" not in shown and "request" not in shown


def test_a_record_missing_what_its_stage_reads_waits() -> None:
    """An exporting record without its source has missed the scoring event (skipped, on its way back)."""
    record = fold(None, event("queued", "submit", request=REQUEST))
    assert runnable(record, 0.0)
    gap = fold(record, event("exporting", "export", candidates=[]))
    assert not runnable(gap, 0.0)
    source = {"path": "/v.mp4", "sha256": "0" * 64, "duration_s": 1.0, "width": 2, "height": 2, "fps": 25.0,
              "has_audio": False}
    whole = fold(fold(record, event("scoring", "score", source=source, signals_path="/s.npz")),
                 event("exporting", "export", candidates=[]))
    assert runnable(whole, 0.0)


def test_edits_of_a_done_job_are_pending_until_their_outcome_and_each_is_taken_once() -> None:
    table: dict = {}
    fold_into(table, event("queued", "submit", request=REQUEST))
    edit = new_event("clip_edit", "job1", edit_id="e1", clip_id="job1-01", start_s=3.0, at=5.0)
    assert fold_into(table, edit) is None  # only a done job's clips can be edited
    fold_into(table, event("done", "export", progress=1.0))
    record = fold_into(table, edit)
    assert jobs.pending_edits(record) == [{"edit_id": "e1", "clip_id": "job1-01", "state": "pending", "at": 5.0,
                                           "request": {"start_s": 3.0}}]
    assert fold_into(table, edit) is None  # redelivered
    clip = {"id": "job1-01", "start_s": 3.0, "end_s": 20.0, "score": 50.0, "subscores": {}, "reason": "r",
            "file": "clip-01-v2.mp4", "width": 1080, "height": 1920, "captions_srt": None, "captions_vtt": None,
            "thumbnail": None, "version": 2}
    done = fold_into(table, new_event("clip_edited", "job1", edit_id="e1", clip_id="job1-01", at=6.0, clip=clip,
                                      manifest_path="/out/job1/manifest.json"))
    assert jobs.pending_edits(done) == [] and done["edits"][0]["state"] == "done"
    assert done["edits"][0]["version"] == 2 and done["state"] == "done"
    assert fold_into(table, edit) is None  # an edit is applied once, even when its request comes again
    failed = fold_into(table, new_event("clip_edit", "job1", edit_id="e2", clip_id="job1-01", at=7.0))
    failed = fold_into(table, new_event("clip_edited", "job1", edit_id="e2", clip_id="job1-01", at=8.0,
                                        error={"code": "edit_invalid", "message": "too short"}))
    assert failed["edits"][1]["state"] == "failed" and failed["edits"][1]["error"]["code"] == "edit_invalid"
    assert "edits" in jobs.public_job(failed)
    for n in range(jobs.EDITS_KEPT + 5):
        fold_into(table, new_event("clip_edit", "job1", edit_id=f"x{n}", clip_id="job1-01", at=9.0 + n))
    assert len(table["job1"]["edits"]) == jobs.EDITS_KEPT + 5  # pending edits are never dropped
    assert table["job1"]["edits"][0]["edit_id"] == "x0"  # the finished ones were


def test_a_finished_edit_keeps_a_count_of_its_fixes_and_a_job_with_edits_expires_after_its_last_one() -> None:
    table: dict = {}
    fold_into(table, event("queued", "submit", request=REQUEST))
    fold_into(table, event("done", "export", progress=1.0))
    table["job1"]["updated_at"] = 100.0
    fixes = [{"start_s": 1.0, "text": "a"}, {"start_s": 2.0, "text": "b"}]
    fold_into(table, new_event("clip_edit", "job1", edit_id="e1", clip_id="job1-01", caption_fixes=fixes, at=500.0))
    assert not jobs.expired(table["job1"], now=10_000.0, retention_s=60.0)  # an edit waits: never expired
    clip = {"id": "job1-01", "start_s": 0.0, "end_s": 9.0, "score": 5.0, "subscores": {}, "reason": "r",
            "file": "clip-01-v2.mp4", "width": 8, "height": 8, "captions_srt": None, "captions_vtt": None,
            "thumbnail": None, "version": 2}
    done = fold_into(table, new_event("clip_edited", "job1", edit_id="e1", clip_id="job1-01", clip=clip, at=600.0,
                                      manifest_path="/o/job1/manifest.json"))
    assert done["edits"][0]["caption_fixes"] == 2 and "caption_fixes" not in done["edits"][0]["request"]
    assert not jobs.expired(done, now=650.0, retention_s=60.0)  # counted from the edit's end, not the job's
    assert jobs.expired(done, now=661.0, retention_s=60.0)


def test_replay_names_the_events_that_rebuild_live_jobs_the_table_lacks() -> None:
    def queued(job_id: str) -> dict:
        return status_event(job_id, "queued", "submit", request=REQUEST, priority="normal", path="/v.mp4")

    log = [
        queued("a"),  # 0: lost while queued
        queued("b"),  # 1: lost while extracting
        queued("c"),  # 2: in the table
        queued("d"),  # 3: ended, so not live
        status_event("b", "extracting", "extract"),  # 4
        status_event("b", "extracting", "extract", progress=0.4),  # 5: a progress report rebuilds nothing
        status_event("d", "failed", "extract", error={"code": "input_not_video", "message": "x"}),  # 6
        status_event("b", "extracting", "extract", attempts=1, retry_at=1.0),  # 7: a retry is kept
        new_event("job_cancel", "zz", at=1.0),  # 8: no such job
    ]
    assert jobs.replay_lost(log, in_table={"c"}.__contains__) == [0, 1, 4, 7]
    assert jobs.replay_lost(log, in_table={"a", "b", "c"}.__contains__) == []
