"""Job records: the job table's values, folded from job-status events (event sourcing). Pure functions.

A record moves queued -> extracting -> scoring -> exporting -> done | failed and never backwards,
so a redelivered or duplicated event cannot undo progress.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from streamapp.job import (  # noqa: F401 (RANK, STAGE_OF_STATE, STATES re-exported)
    PRIORITY_RANK,
    RANK,
    STAGE_OF_STATE,
    STATES,
    TERMINAL,
    EditState,
    State,
)

# What a job record shows outside (records also carry candidates, paths and other internals).
PUBLIC_FIELDS = ("job_id", "state", "stage", "progress", "attempts", "error", "path", "priority", "created_at",
                 "updated_at", "retry_at", "cancel_requested", "edits", "live", "stop_requested")
CARRIED = ("request", "priority", "path", "source", "signals_path", "transcript_path", "candidates", "timings_s",
           "retry_at", "partition", "live")


# What ``fold`` returns for a job_expired event: the record leaves the table.
FORGET: dict[str, Any] = {"forget": True}
# The event types of the job-status log: changes of state, cancel requests, expiries of ended jobs, and edits of
# a finished job's clips with their outcomes.
LOG_TYPES = ("job_status", "job_cancel", "job_expired", "clip_edit", "clip_edited", "job_stop")
# A record remembers this many of its latest edits (pending ones are never dropped).
EDITS_KEPT = 20


def fold(record: dict[str, Any] | None, event: dict[str, Any], partition: int | None = None) -> dict[str, Any] | None:
    """The record after ``event`` (a job-status log event), None when the event changes nothing (stale, after
    the end, a cancel of a job that ended), or FORGET when the record is to be deleted (an ended job expired)."""
    if event["type"] == "job_cancel":
        return _fold_cancel(record, event)
    if event["type"] == "job_stop":
        return _fold_stop(record, event)
    if event["type"] == "job_expired":
        return FORGET if record and record["state"] in TERMINAL else None
    if event["type"] in ("clip_edit", "clip_edited"):
        return _fold_edit(record, event)
    current = dict(record or {})
    if current:
        if current["state"] in TERMINAL:
            return None
        if RANK[event["state"]] < RANK[current["state"]]:
            return None
    new = {**current, "job_id": event["job_id"], "state": event["state"], "stage": event["stage"],
           "progress": event["progress"], "attempts": max(event["attempts"], current.get("attempts", 0)),
           "error": event["error"], "updated_at": event["at"]}
    new.setdefault("created_at", event["at"])
    for name in CARRIED:
        if name in event:
            new[name] = event[name]
    if partition is not None:
        new["partition"] = partition
    if event["state"] != current.get("state") and "retry_at" not in event:
        new.pop("retry_at", None)
    return new


def fold_into(table: MutableMapping[str, Any], event: dict[str, Any],
              partition: int | None = None) -> dict[str, Any] | None:
    """Fold a job-status log event into ``table`` (job id -> record): the changed record, FORGET when the record
    was deleted, None when nothing changed. Every reader of the log (the jobs table, the API's read model, a
    job's log read) folds through here."""
    if event.get("type") not in LOG_TYPES:
        return None
    job_id = event["job_id"]
    record = fold(table.get(job_id), event, partition=partition)
    if record is FORGET:
        table.pop(job_id, None)
    elif record is not None:
        table[job_id] = record
    return record


def replay_lost(log: Iterable[dict[str, Any]], in_table: Callable[[str], bool]) -> list[int]:
    """Which of ``log``'s events (a job-status partition's, in order, below the offset this worker took it over
    at) to publish again: those that built the record of each job that is live in the log but missing from the
    table. The agent never reads them again (they lie below the group's offset), so a record the table's
    changelog lacks (a killed owner committed the offset but lost the changelog write; a short changelog
    recovery) would leave its job waiting forever. Progress reports are left out: they rebuild nothing."""
    folded: dict[str, dict[str, Any]] = {}
    builders: dict[str, list[int]] = {}
    for index, event in enumerate(log):
        job_id = event.get("job_id")
        before = folded.get(job_id) if job_id else None
        after = fold_into(folded, event)
        if after is None or after is FORGET:
            continue
        if before is None or _without_progress(after) != _without_progress(before):
            builders.setdefault(job_id, []).append(index)
    return sorted(index for job_id, indexes in builders.items()
                  if folded.get(job_id, {}).get("state") in STAGE_OF_STATE and not in_table(job_id)
                  for index in indexes)


def _without_progress(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("progress", "updated_at")}


def _fold_cancel(record: dict[str, Any] | None, event: dict[str, Any]) -> dict[str, Any] | None:
    """A cancel marks a live job; its owner's scheduler stops it and records its end (job_failed, "cancelled").
    A job that has ended, or is not in the log yet, is left as it is."""
    if not record or record["state"] in TERMINAL or record.get("cancel_requested"):
        return None
    marked = {**record, "cancel_requested": event["at"]}
    if event.get("reason"):
        marked["cancel_reason"] = event["reason"]
    return marked


def _fold_stop(record: dict[str, Any] | None, event: dict[str, Any]) -> dict[str, Any] | None:
    """A stop marks a running live job; its live stage ends the stream there and the job ends as done. A job that
    is not live, has ended, or was already told to stop is left as it is."""
    if not record or record["state"] in TERMINAL or record.get("stop_requested") \
            or not (record.get("request") or {}).get("live"):
        return None
    return {**record, "stop_requested": event["at"]}


def _fold_edit(record: dict[str, Any] | None, event: dict[str, Any]) -> dict[str, Any] | None:
    """Edits of a done job's clips: a clip_edit joins the record's ``edits`` as pending (the owner's scheduler
    renders it), its clip_edited marks it done or failed. A repeated request, an outcome of an edit the record
    does not hold, or an edit of a job that is not done changes nothing."""
    if not record or record["state"] != State.DONE:
        return None
    edits = list(record.get("edits", []))
    index = next((i for i, e in enumerate(edits) if e["edit_id"] == event["edit_id"]), None)
    if event["type"] == "clip_edit":
        if index is not None:
            return None
        request = {k: event[k] for k in ("start_s", "end_s", "aspect", "layout", "caption_fixes") if k in event}
        edits.append({"edit_id": event["edit_id"], "clip_id": event["clip_id"], "state": EditState.PENDING,
                      "at": event["at"], "request": request})
    else:
        if index is None or edits[index]["state"] != EditState.PENDING:
            return None
        outcome = {"state": EditState.FAILED, "error": event["error"]} if "error" in event else {
            "state": EditState.DONE, "version": event["clip"].get("version", 1), "file": event["clip"]["file"]}
        # A finished edit keeps how many caption fixes it made, not the words (the manifest has them): records
        # stay small however many edits a job gets.
        request = dict(edits[index]["request"])
        fixes = request.pop("caption_fixes", None)
        edits[index] = {**edits[index], **outcome, "request": request, "ended_at": event["at"],
                        **({"caption_fixes": len(fixes)} if fixes else {})}
    finished = [i for i, e in enumerate(edits) if e["state"] != EditState.PENDING]
    drop = set(finished[: max(0, len(edits) - EDITS_KEPT)])
    return {**record, "edits": [e for i, e in enumerate(edits) if i not in drop]}


def pending_edits(record: dict[str, Any]) -> list[dict[str, Any]]:
    """A done job's edits its owner has yet to render, oldest first."""
    if record.get("state") != State.DONE:
        return []
    return [e for e in record.get("edits", []) if e["state"] == EditState.PENDING]


def expired(record: dict[str, Any], now: float, retention_s: float) -> bool:
    """An ended job past its retention (0: never), counted from its end or its last edit; never while an edit of
    its clips waits."""
    if retention_s <= 0 or record.get("state") not in TERMINAL or pending_edits(record):
        return False
    last = max([float(record.get("updated_at", now))] + [float(e.get("ended_at", e["at"]))
                                                          for e in record.get("edits", [])])
    return now - last > retention_s


def cancelling(record: dict[str, Any]) -> bool:
    """A live job whose cancel its owner has yet to carry out."""
    return bool(record.get("cancel_requested")) and record.get("state") not in TERMINAL


# What each state's stage reads from the record. A record without it has missed an event (one Faust skipped
# at a partition's assignment, on its way back): the stage waits for it rather than fail the job.
NEEDS = {"queued": ("request",), "extracting": ("request",), "scoring": ("request", "source", "signals_path"),
         "exporting": ("request", "source", "signals_path", "candidates")}


def incomplete(record: dict[str, Any]) -> bool:
    """A live record that lacks what its stage reads: it missed an event (see NEEDS)."""
    state = record.get("state")
    return state in STAGE_OF_STATE and not all(name in record for name in NEEDS[state]) and not cancelling(record)


def runnable(record: dict[str, Any], now: float) -> bool:
    return (
        record.get("state") in STAGE_OF_STATE
        and all(name in record for name in NEEDS[record["state"]])
        and float(record.get("retry_at") or 0.0) <= now
        and not record.get("cancel_requested")
    )


def schedule_key(record: dict[str, Any]) -> tuple[int, int, float]:
    """Order of work: priority first; then jobs further along (finish what started); then oldest first."""
    return (
        PRIORITY_RANK.get(record.get("priority", "normal"), 1),
        -RANK[record["state"]],
        float(record.get("created_at", 0.0)),
    )


def backoff_s(attempt: int, base_s: float, cap_s: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**(attempt-1))]."""
    ceiling = min(cap_s, base_s * (2 ** max(attempt - 1, 0)))
    return (rng or random).uniform(0.0, ceiling)


class EndedJobs:
    """Jobs known to have ended (done or failed): from the table, or from this worker's own terminal
    events before the table has folded them. Nothing non-terminal is published for these jobs, so a
    progress report still in flight cannot land in the job log after the job's end.
    The oldest are forgotten past ``limit``; by then the table has long recorded their end."""

    def __init__(self, limit: int = 100_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._limit = limit

    def note(self, job_id: str) -> None:
        self._ids[job_id] = None
        self._ids.move_to_end(job_id)
        while len(self._ids) > self._limit:
            self._ids.popitem(last=False)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._ids


def ends_job(event: dict[str, Any]) -> bool:
    """Whether publishing ``event`` ends its job: a terminal status, or the job's result."""
    return event.get("type") in ("job_done", "job_failed") or (
        event.get("type") == "job_status" and event.get("state") in TERMINAL)


def public_job(record: dict[str, Any]) -> dict[str, Any]:
    """The part of a job record the API shows (records also carry candidates, paths and other internals)."""
    job = {name: record[name] for name in PUBLIC_FIELDS if name in record}
    request = record.get("request")
    if isinstance(request, dict):
        job.setdefault("path", request.get("path"))
        job.setdefault("priority", request.get("priority"))
        job["options"] = request.get("options", {})
        if request.get("name"):
            job["name"] = request["name"]
        if request.get("live"):  # a live job shows as one from the start, before its stream has been read
            job.setdefault("live", {"edge_s": 0.0, "segments": 0, "clips": 0})
    return job
