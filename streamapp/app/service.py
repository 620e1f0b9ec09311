"""The worker's implementation of the HTTP API's JobService: reads the jobs table, submits to Kafka."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from streamapp.app.jobs import TERMINAL, pending_edits
from streamapp.app.runner import check_input_path, job_options
from streamapp.client import cancel_request, edit_request, stop_request, submission
from streamapp.errors import InputError, StreamappError
from streamapp.media.fetch import is_url
from streamapp.options import merge_options
from streamapp.settings import Settings
from streamapp.stages.export import EDIT_FIELDS, find_clip, fixed_words, plan_edit
from streamapp.stages.extract import Signals
from streamapp.stages.score import ClipOptions, score_windows

Submit = Callable[[dict[str, Any]], Awaitable[None]]

# Submissions remembered until the job log has them (read-your-writes for the API's clients).
PENDING_LIMIT = 10_000
PENDING_TTL_S = 600.0
# The score-over-time plot: at most this many points, each a window of the job's shortest clip length.
CURVE_POINTS = 240
# The editor shows the words this far either side of a clip, to trim to.
EDIT_MARGIN_S = 15.0
# A job takes no more edits while this many wait for its worker (each record carries its pending edits).
MAX_PENDING_EDITS = 5


def score_curve(signals: Signals, window_s: float, weights: dict[str, float], keywords: tuple[str, ...] = (),
                points: int = CURVE_POINTS) -> dict[str, list[float]]:
    """The score of a window of ``window_s`` centred on each of ``points`` times across the video."""
    duration = float(signals.duration_s)
    window_s = min(window_s, duration)
    if duration <= 0 or window_s <= 0:
        return {"t_s": [], "score": []}
    centres = np.linspace(window_s / 2, duration - window_s / 2, num=max(2, min(points, int(duration) + 1)))
    windows = [(float(c - window_s / 2), float(c + window_s / 2)) for c in centres]
    scored = score_windows(signals, windows, weights, keywords)
    return {"t_s": [round(float(c), 3) for c in centres], "score": [c.score for c in scored]}


def clip_words(manifest: dict[str, Any], clip_id: str, signals_path: str,
               margin_s: float = EDIT_MARGIN_S) -> dict[str, Any]:
    """The words around a clip (``margin_s`` either side, so a trim can snap to them) with the clip's caption
    fixes applied, and the source's duration. Raises InputError clip_unknown."""
    _, clip = find_clip(manifest, clip_id)
    signals = Signals.load(signals_path)
    start, end = clip["start_s"] - margin_s, clip["end_s"] + margin_s
    near = [w for w in signals.words if w["end_s"] > start and w["start_s"] < end]
    fixes = tuple((float(f["start_s"]), f["text"]) for f in clip.get("caption_fixes", []))
    return {"clip_id": clip_id, "duration_s": float(manifest["source"]["duration_s"]),
            "words": [{"start_s": round(float(w["start_s"]), 3), "end_s": round(float(w["end_s"]), 3),
                       "text": w["text"]} for w in fixed_words(near, fixes)]}


class WorkerJobService:
    """``lookup`` reads this worker's jobs table; ``read_log`` folds a job's record from the job's partition of
    the log, so any worker answers for any job, never with a state older than the job's end."""

    def __init__(self, settings: Settings, records: Callable[[], list[dict[str, Any]]],
                 lookup: Callable[[str], dict[str, Any] | None], submit: Submit,
                 read_log: Callable[[str], Awaitable[dict[str, Any] | None]] | None = None,
                 publish_log: Callable[[dict[str, Any]], Awaitable[None]] | None = None) -> None:
        self.settings = settings
        self._publish_log = publish_log  # sends a job_cancel to the job-status log
        self._submitted: OrderedDict[str, dict[str, Any]] = OrderedDict()  # submitted here, not in the log yet
        self._records = records
        self._lookup = lookup
        self._submit = submit
        self._read_log = read_log

    async def list_jobs(self, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        records = self._records()
        known = {r["job_id"] for r in records}
        for job_id in [j for j in self._submitted if j in known]:  # in the log now: the table answers
            del self._submitted[job_id]
        pending = [p for p in map(self._pending, list(self._submitted)) if p is not None]
        jobs = [r for r in [*records, *pending] if state is None or r["state"] == state]
        jobs.sort(key=lambda r: r.get("created_at", 0.0), reverse=True)
        return jobs[:limit]

    async def get_job(self, job_id: str) -> dict[str, Any] | None:
        logged = await self._logged(job_id)
        if logged is not None:
            self._submitted.pop(job_id, None)  # the log answers from now on
            return logged
        return self._pending(job_id)

    def _pending(self, job_id: str) -> dict[str, Any] | None:
        """A job submitted here that the log does not hold yet; forgotten after PENDING_TTL_S (a worker takes a
        submission in within seconds; a job that expired must not come back as queued)."""
        record = self._submitted.get(job_id)
        if record is not None and time.time() - record["created_at"] > PENDING_TTL_S:
            del self._submitted[job_id]
            return None
        return record

    async def _logged(self, job_id: str) -> dict[str, Any] | None:
        """The job's record as the job log has it (None: not in the log, or not yet)."""
        record = self._lookup(job_id)
        if self._read_log is None or (record and record["state"] in TERMINAL):
            return record  # an end is final
        # Not ended, or not here: even the owner's table can trail the log (an agent stalled on a partition
        # after a rebalance), so a job still running is checked against its own log.
        return await self._read_log(job_id) or record

    async def submit(self, path: str, options: dict[str, Any], priority: str,
                     name: str | None = None, live: bool = False) -> dict[str, Any]:
        if is_url(path):
            if not self.settings.allow_urls:
                raise InputError("URL inputs are turned off (STREAMAPP_ALLOW_URLS)", code="input_url_refused")
        else:
            check_input_path(path, self.settings.input_roots)
            if not live and not Path(path).is_file():  # a live playlist may appear once the stream starts
                raise InputError(f"file not found: {path}", code="input_missing")
        merge_options(self.settings, options)  # refused now, not in a stage, when it clashes with the defaults
        event = submission(path, self.settings.clips_dir, priority=priority, options=options, name=name, live=live)
        await self._submit(event)
        record = {"job_id": event["job_id"], "state": "queued", "stage": "submit", "progress": 0.0, "attempts": 0,
                  "error": None, "path": event["request"]["path"], "priority": priority,
                  "created_at": event["submitted_at"], "updated_at": event["submitted_at"],
                  "request": event["request"]}
        # Until a worker takes the submission into the job log, this server answers for the job itself: a
        # client that reads the job it just made must find it (with no worker running, that is a while).
        self._submitted[event["job_id"]] = record
        while len(self._submitted) > PENDING_LIMIT:
            self._submitted.popitem(last=False)
        return record

    async def cancel(self, job_id: str, reason: str | None = None) -> dict[str, Any]:
        record = await self._logged(job_id)
        if record is None and self._pending(job_id) is not None:
            raise StreamappError(f"job {job_id} is not in the job log yet (no worker has taken it in); try again",
                                 code="job_pending", permanent=True)
        if record is None:
            raise StreamappError(f"no job {job_id}", code="job_unknown", permanent=True)
        if record["state"] in TERMINAL:
            raise StreamappError(f"job {job_id} has already ended ({record['state']})", code="job_ended",
                                 permanent=True)
        if self._publish_log is None:
            raise StreamappError("this server cannot cancel jobs", code="cancel_unavailable", permanent=True)
        event = cancel_request(job_id, reason)
        await self._publish_log(event)
        return {**record, "cancel_requested": record.get("cancel_requested") or event["at"]}

    async def stop(self, job_id: str) -> dict[str, Any]:
        record = await self._logged(job_id)
        if record is None:
            raise StreamappError(f"no job {job_id}", code="job_unknown", permanent=True)
        if record["state"] in TERMINAL:
            raise StreamappError(f"job {job_id} has already ended ({record['state']})", code="job_ended",
                                 permanent=True)
        if not (record.get("request") or {}).get("live"):
            raise StreamappError(f"job {job_id} is not live: cancel it instead", code="job_not_live", permanent=True)
        if self._publish_log is None:
            raise StreamappError("this server cannot stop jobs", code="cancel_unavailable", permanent=True)
        event = stop_request(job_id)
        await self._publish_log(event)
        return {**record, "stop_requested": record.get("stop_requested") or event["at"]}

    async def edit(self, job_id: str, clip_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        record = await self._logged(job_id)
        if record is None:
            raise StreamappError(f"no job {job_id}", code="job_unknown", permanent=True)
        if record["state"] != "done":
            raise StreamappError(f"job {job_id} is {record['state']}; only a done job's clips can be edited",
                                 code="job_not_done", permanent=True)
        if self._publish_log is None:
            raise StreamappError("this server cannot edit clips", code="edit_unavailable", permanent=True)
        if len(pending_edits(record)) >= MAX_PENDING_EDITS:
            raise StreamappError(f"job {job_id} already has {MAX_PENDING_EDITS} edits waiting; try again when they "
                                 "are rendered", code="edits_busy", permanent=True)
        manifest = await self._read_manifest(Path(record["request"]["out_dir"]) / job_id)
        if manifest is None:
            raise InputError(f"job {job_id} has no manifest.json any more", code="manifest_missing")
        plan_edit(manifest, clip_id, changes)  # refused now, with its reason, rather than by the worker later
        event = edit_request(job_id, clip_id, {k: changes[k] for k in EDIT_FIELDS if k in changes})
        await self._publish_log(event)
        return {"edit_id": event["edit_id"], "job_id": job_id, "clip_id": clip_id, "state": "pending",
                "at": event["at"], "request": {k: event[k] for k in EDIT_FIELDS if k in event}}

    async def words(self, job_id: str, clip_id: str) -> dict[str, Any] | None:
        manifest = await self.manifest(job_id)
        record = self._lookup(job_id)
        if manifest is None or not record or not record.get("signals_path"):
            return None
        if not Path(record["signals_path"]).is_file():
            return None  # expired, or removed by hand
        return await asyncio.to_thread(clip_words, manifest, clip_id, record["signals_path"])

    def _job_dir(self, job_id: str) -> Path | None:
        record = self._lookup(job_id)
        if not record or "request" not in record:
            return None
        return Path(record["request"]["out_dir"]) / job_id

    async def manifest(self, job_id: str) -> dict[str, Any] | None:
        job_dir = self._job_dir(job_id)
        return None if job_dir is None else await self._read_manifest(job_dir)

    @staticmethod
    async def _read_manifest(job_dir: Path) -> dict[str, Any] | None:
        if not (job_dir / "manifest.json").is_file():
            return None
        return orjson.loads(await asyncio.to_thread((job_dir / "manifest.json").read_bytes))

    def clip_path(self, job_id: str, name: str) -> Path | None:
        job_dir = self._job_dir(job_id)
        if job_dir is None or "/" in name or "\\" in name or name.startswith("."):
            return None
        path = (job_dir / name).resolve()
        if not path.is_relative_to(job_dir.resolve()) or not path.is_file():
            return None
        return path

    def upload_dir(self) -> Path:
        roots = self.settings.input_roots
        base = roots[0] if roots else self.settings.data_dir / "inputs"
        return base / "uploads"

    async def signals(self, job_id: str) -> dict[str, list[float]] | None:
        record = self._lookup(job_id)
        if not record or not record.get("signals_path") or not Path(record["signals_path"]).is_file():
            return None
        options = job_options(self.settings, record["request"])
        clip = ClipOptions.from_dict(options)
        signals = await asyncio.to_thread(Signals.load, record["signals_path"])
        return await asyncio.to_thread(score_curve, signals, clip.min_duration_s, dict(self.settings.score_weights),
                                       clip.keywords)
