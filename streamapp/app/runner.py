"""Stage runners: do one stage of one job in the process pool, record the job's next state on the job-status
topic (the jobs table folds it; the scheduler runs the next stage from there), and publish the stage's outcome.

Runners are idempotent: outputs are keyed by job id with deterministic names and written
atomically, so a stage re-run after a crash replaces its files and never adds to them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from streamapp import events, metrics
from streamapp.app import tasks
from streamapp.app.job_files import JobFiles, StopCheck
from streamapp.app.jobs import STAGE_OF_STATE
from streamapp.app.pool import WorkPool
from streamapp.cache import ResultCache, cache_key
from streamapp.errors import EventError, InputError, StreamappError
from streamapp.fileio import remove_temp_files, write_bytes_atomic
from streamapp.manifest import build_manifest, clip_entry, clip_stem, write_json_atomic
from streamapp.media.fetch import download, is_url
from streamapp.options import merge_options
from streamapp.settings import Settings
from streamapp.stages.analyze import analysis_params, asr_params
from streamapp.stages.export import (
    clip_inputs,
    edited_entry,
    edited_file_stem,
    find_clip,
    fixed_words,
    plan_edit,
    stale_clip_files,
    with_clip,
)
from streamapp.stages.extract import SIGNALS_VERSION, Signals
from streamapp.timeline import FCPXML_NAME, write_timeline

log = logging.getLogger("streamapp.runner")

Send = Callable[[str, dict[str, Any]], Awaitable[None]]  # (topic role, event)


def extract_params(settings: Settings) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Analysis and speech parameters: everything that changes extract's result, so also the cache key."""
    asr = asr_params(settings)
    return dataclasses.asdict(analysis_params(settings)), dataclasses.asdict(asr) if asr else None


def job_options(settings: Settings, request: dict[str, Any]) -> dict[str, Any]:
    """A job's clip options: its own where given, else the settings' defaults."""
    return merge_options(settings, request.get("options", {}))


def check_input_path(path: str, roots: list[Path]) -> None:
    """Refuse paths outside the allowed input roots (``..`` and symlink escapes included)."""
    if not roots:
        return
    resolved = Path(path).resolve()
    if not any(resolved.is_relative_to(root.resolve()) for root in roots):
        raise InputError(f"{path} is outside the allowed input folders", code="input_forbidden")


def check_request_path(path: str, settings: Settings) -> None:
    """Refuse a submitted path no worker may read: a URL while URLs are off, a relative path (it would be read
    relative to whichever worker runs the job), a path outside the allowed input folders."""
    if is_url(path):
        if not settings.allow_urls:
            raise InputError("URL inputs are turned off (STREAMAPP_ALLOW_URLS)", code="input_url_refused")
        return
    if not Path(path).is_absolute():
        raise InputError(f"{path} is a relative path; submit absolute paths the workers can read",
                         code="input_path_relative")
    check_input_path(path, settings.input_roots)


def check_source_limits(source: dict[str, Any], settings: Settings) -> None:
    if source["width"] * source["height"] > settings.max_pixels:
        raise InputError(f"{source['width']}x{source['height']} exceeds the frame-size limit", code="input_too_large")
    if source["duration_s"] > settings.max_duration_input_s:
        raise InputError(f"{source['duration_s']:.0f} s exceeds the duration limit", code="input_too_large")


# What a clip_edited event keeps of a clip whose whole entry would make it too large (the manifest has it all).
SLIM_CLIP_FIELDS = ("id", "start_s", "end_s", "score", "subscores", "reason", "title", "file", "width", "height",
                    "captions_srt", "captions_vtt", "thumbnail", "layout", "version", "edit_id", "aspect",
                    "layout_choice")


def tidy_clip_folder(folder: Path, manifest: dict[str, Any]) -> None:
    """After an edit: the files of versions the manifest no longer names, and half files, go."""
    for name in stale_clip_files([p.name for p in folder.iterdir()], manifest["clips"]):
        (folder / name).unlink(missing_ok=True)
    remove_temp_files(folder)


def render_settings(settings: Settings) -> dict[str, Any]:
    """The render settings every clip of a job shares (render_task's ``render``)."""
    return {
        "long_side": settings.output_long_side,
        "crf": settings.crf,
        "preset": settings.preset,
        "audio_bitrate": settings.audio_bitrate,
        "reframe": settings.reframe,
        "threads": settings.render_threads,
        "caption_style": settings.caption_style,
        "loudness_lufs": settings.loudness_target_lufs,
        "true_peak_db": settings.true_peak_db,
    }


def finished_manifest(path: Path, job_id: str) -> dict[str, Any] | None:
    """The manifest a completed export of ``job_id`` left at ``path``, or None (absent, another job's, unreadable)."""
    try:
        manifest = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if isinstance(manifest, dict) and manifest.get("job_id") == job_id and isinstance(manifest.get("clips"), list):
        return manifest
    return None


class StageRunner:
    def __init__(self, settings: Settings, pool: WorkPool, cache: ResultCache, send: Send) -> None:
        self.settings = settings
        self.pool = pool
        self.cache = cache
        self.send = send
        self.fetching = 0  # jobs holding a slot while their URL input downloads (no CPU used)

    async def status(self, job: dict[str, Any], state: str, stage: str, progress: float = 0.0,
                     **extra: Any) -> None:
        await self.send("job_status", events.status_event(
            job["job_id"], state, stage, progress=progress, attempts=job.get("attempts", 0), **extra))

    async def run(self, job: dict[str, Any]) -> None:
        stage = {"queued": self.extract, "extracting": self.extract, "scoring": self.score,
                 "exporting": self.export}[job["state"]]
        started = time.perf_counter()
        await stage(job)
        metrics.STAGE_DURATION.labels(STAGE_OF_STATE[job["state"]]).observe(time.perf_counter() - started)

    def _download_path(self, job: dict[str, Any]) -> Path:
        url = job["request"]["path"]
        return self.settings.data_dir / "downloads" / f"{job['job_id']}{Path(url.split('?')[0]).suffix[:8]}"

    async def _local_input(self, job: dict[str, Any]) -> str:
        path = job["request"]["path"]
        check_request_path(path, self.settings)
        if not is_url(path):
            return path
        dest = self._download_path(job)
        if not dest.exists():
            self.fetching += 1
            stop = StopCheck(str(JobFiles.of(self.settings, job).stop_mark))
            try:
                await self.pool.run_in_thread(download, path, dest, 20 * 1024**3, self.settings.url_trusted_hosts,
                                              stop, job_id=job["job_id"])
            finally:
                self.fetching -= 1
        return str(dest)

    async def extract(self, job: dict[str, Any]) -> None:
        if job["request"].get("live"):
            from streamapp.app.live_stage import LiveStage  # it builds on this module's helpers

            await LiveStage(self, job).run()
            return
        job_id, request = job["job_id"], job["request"]
        started = time.perf_counter()
        await self.status(job, "extracting", "extract", 0.0)
        path = await self._local_input(job)
        source = await self.pool.run(tasks.probe_task, path, job_id=job_id)
        check_source_limits(source, self.settings)
        params, asr = extract_params(self.settings)
        signals_path = self.settings.jobs_dir / job_id / "signals.npz"
        key = cache_key("signals", source["sha256"], {"analysis": params, "asr": asr, "version": SIGNALS_VERSION})
        blob = await self.cache.get(key)
        summary_blob = await self.cache.get(key + ":summary") if blob is not None else None
        if blob is not None and summary_blob is not None:
            await asyncio.to_thread(write_bytes_atomic, signals_path, blob)
            summary = orjson.loads(summary_blob)
        else:
            blob = None
            summary = await self.pool.run(tasks.extract_task, job_id, path, params, asr, str(signals_path),
                                          str(JobFiles.of(self.settings, job).stop_mark), source, job_id=job_id)
            metrics.FRAMES_PER_SECOND.labels("extract").set(summary.pop("frames_per_second", 0.0))
            if signals_path.stat().st_size <= self.cache.max_item_bytes and await self.cache.put(
                    key, await asyncio.to_thread(signals_path.read_bytes)):
                await self.cache.put(key + ":summary", orjson.dumps(summary))
        source["path"] = request["path"]
        timings = {**job.get("timings_s", {}), "extract": time.perf_counter() - started}
        # The job's next state, recorded by the stage itself: the scheduler runs score from the table.
        await self.status(job, "scoring", "score", request=request, source=source, signals_path=str(signals_path),
                          transcript_path=None, timings_s=timings)
        await self._observed("extracted", lambda: events.new_event(
            "extracted", job_id, request=request, source=source, signals_path=str(signals_path), summary=summary,
            cached=blob is not None, transcript_path=None, timings_s=timings))

    async def score(self, job: dict[str, Any]) -> None:
        job_id, request = job["job_id"], job["request"]
        started = time.perf_counter()
        options = job_options(self.settings, request)
        candidates = await self.pool.run(
            tasks.score_task, job["signals_path"], options, dict(self.settings.score_weights), job_id=job_id)
        timings = {**job.get("timings_s", {}), "score": time.perf_counter() - started}
        await self.status(job, "exporting", "export", candidates=candidates, timings_s=timings)
        await self._observed("scored", lambda: events.new_event(
            "scored", job_id, request=request, source=job["source"], candidates=candidates,
            transcript_path=job.get("transcript_path"), timings_s=timings))

    async def _observed(self, role: str, event: Callable[[], dict[str, Any]]) -> None:
        """A stage's outcome for observers: nothing in the pipeline reads it back, and the job has already moved on
        (its next state is in the log), so failing to publish it is logged, never a failure of the stage."""
        try:
            await self.send(role, event())
        except Exception as exc:
            log.warning("could not publish the %s event: %s", role, str(exc).splitlines()[0] if str(exc) else exc)

    async def export(self, job: dict[str, Any]) -> None:
        job_id, request, source = job["job_id"], job["request"], job["source"]
        started = time.perf_counter()
        options = job_options(self.settings, request)
        out_dir = Path(request["out_dir"]) / job_id
        if await self.announce_if_exported(job):
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        render = render_settings(self.settings)
        candidates = job["candidates"]
        if not candidates:
            raise InputError("no moment long enough to clip in this video", code="no_clips")
        media_path = str(self._download_path(job)) if is_url(request["path"]) else source["path"]

        stop_mark = str(JobFiles.of(self.settings, job).stop_mark)
        # Read the signals once for the whole job; each clip gets only its own words and cuts.
        signals = await asyncio.to_thread(Signals.load, job["signals_path"])

        async def render_one(index: int, candidate: dict[str, Any]) -> dict[str, Any]:
            start, end = candidate["start_s"], candidate["end_s"]
            inputs = clip_inputs(signals, start, end)
            rendered = await self.pool.run(
                tasks.render_task, job_id, index, len(candidates), media_path, start, end, inputs.words,
                inputs.cuts_s, options, str(out_dir / f"{clip_stem(index + 1, candidate.get('title'))}.mp4"), render,
                inputs.loudness_db, signals.hop_s, stop_mark, job_id=job_id,
            )
            return clip_entry(job_id, index, candidate, rendered)

        clips = await asyncio.gather(*(render_one(i, c) for i, c in enumerate(candidates)))
        for name in stale_clip_files([p.name for p in out_dir.iterdir()], clips):  # a re-run with fewer clips
            (out_dir / name).unlink(missing_ok=True)
        # Every render of this run has been renamed into place, and the signals were before this stage began:
        # what is left half-written in either folder came from a run killed with its worker.
        for folder in (out_dir, self.settings.jobs_dir / job_id):
            await asyncio.to_thread(remove_temp_files, folder)
        timeline = await asyncio.to_thread(
            write_timeline, str(out_dir), media_path, source["fps"],
            list(clips), options["aspect"], source["duration_s"], bool(source.get("has_audio")))
        timings = {**job.get("timings_s", {}), "export": time.perf_counter() - started}
        fcpxml = out_dir / FCPXML_NAME
        manifest = build_manifest(job_id, source, options, list(clips), timings, timeline=Path(timeline).name,
                                  timeline_fcpxml=fcpxml.name if fcpxml.exists() else None,
                                  language=signals.language or None)
        manifest_path = out_dir / "manifest.json"
        await asyncio.to_thread(write_json_atomic, manifest_path, manifest)
        await self._announce(job, manifest, manifest_path)

    async def announce_if_exported(self, job: dict[str, Any]) -> bool:
        """Announce a job whose export already wrote everything (the manifest is written last), and say so. A
        re-run after a rebalance, or after a kill between the manifest and job_done, must not touch the folder
        again; it only says what was made, and result consumers dedupe on job_id and clip id."""
        if job.get("state") != "exporting" or "source" not in job:
            return False
        manifest_path = Path(job["request"]["out_dir"]) / job["job_id"] / "manifest.json"
        finished = await asyncio.to_thread(finished_manifest, manifest_path, job["job_id"])
        if finished is None:
            return False
        log.info("job %s was already exported; announcing it without rendering again", job["job_id"])
        await self._announce(job, finished, manifest_path)
        return True

    async def _announce(self, job: dict[str, Any], manifest: dict[str, Any], manifest_path: Path) -> None:
        """The clips and the job's end on the results topic, then its terminal status."""
        job_id = job["job_id"]
        for clip in manifest["clips"]:
            await self.send("results", events.new_event("clip_ready", job_id, clip=clip))
        await self.send("results", events.new_event(
            "job_done", job_id, manifest_path=str(manifest_path), manifest=manifest))
        await self.status(job, "done", "export", 1.0, timings_s=manifest.get("timings_s", {}))
        metrics.JOBS_FINISHED.inc()

    async def edit(self, job: dict[str, Any], edit: dict[str, Any]) -> None:
        """Apply one pending edit (a record's ``edits`` entry) to a done job's clip: render the clip's next
        version beside the old one, point the manifest at it, remove the old version's files, and announce
        the outcome (clip_edited) on the results topic and in the job log. An edit the manifest already
        holds is only announced again. A refused edit (a permanent error) is announced with its error; any
        other failure raises, and the scheduler retries it or, in the end, refuses it (``refuse_edit``)."""
        job_id, edit_id = job["job_id"], edit["edit_id"]
        manifest_path = Path(job["request"]["out_dir"]) / job_id / "manifest.json"
        try:
            manifest = await asyncio.to_thread(finished_manifest, manifest_path, job_id)
            if manifest is None:
                raise InputError(f"job {job_id} has no manifest.json any more", code="manifest_missing")
            _, clip = find_clip(manifest, edit["clip_id"])
            if edit_id not in clip.get("applied_edits", []):
                manifest, clip = await self._render_edit(job, manifest, edit, manifest_path)
            await asyncio.to_thread(tidy_clip_folder, manifest_path.parent, manifest)
        except StreamappError as exc:
            if not exc.permanent:
                raise
            await self.refuse_edit(job, edit, exc)
            return
        await self._announce_edit(job_id, edit, {"clip": clip, "manifest_path": str(manifest_path)})

    async def refuse_edit(self, job: dict[str, Any], edit: dict[str, Any], exc: BaseException,
                          attempts: int = 1) -> bool:
        """Announce an edit as failed, with its reason; False when even that could not be published."""
        error = {"code": exc.code, "message": exc.message[:500]} if isinstance(exc, StreamappError) else {
            "code": "internal_error", "message": f"{type(exc).__name__}: {exc}".splitlines()[0][:500]}
        if attempts > 1:
            error["message"] = f"gave up after {attempts} attempts: {error['message']}"[:500]
        log.info("job %s: edit %s of %s refused: %s", job["job_id"], edit["edit_id"], edit["clip_id"],
                 error["message"])
        try:
            await self._announce_edit(job["job_id"], edit, {"error": error})
        except Exception as send_error:  # the broker is away: the scheduler tries again later
            log.warning("job %s: could not announce edit %s: %s", job["job_id"], edit["edit_id"], send_error)
            return False
        return True

    async def _announce_edit(self, job_id: str, edit: dict[str, Any], outcome: dict[str, Any]) -> None:
        """clip_edited on the results topic, then in the job log (which ends the edit's pending state)."""
        fields = {"edit_id": edit["edit_id"], "clip_id": edit["clip_id"], "at": time.time()}
        event = events.new_event("clip_edited", job_id, **fields, **outcome)
        try:
            await self.send("results", event)
        except EventError:  # a clip with long camera paths: its manifest entry has them, the event need not
            slim = {k: v for k, v in outcome["clip"].items() if k in SLIM_CLIP_FIELDS} if "clip" in outcome else None
            if slim is None:
                raise
            event = events.new_event("clip_edited", job_id, **fields, **{**outcome, "clip": slim})
            await self.send("results", event)
        await self.send("job_status", event)

    async def _render_edit(self, job: dict[str, Any], manifest: dict[str, Any], edit: dict[str, Any],
                           manifest_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        # The manifest and the job's folder are the truth here: a record recovered short may lack the rest.
        job_id, source = job["job_id"], manifest["source"]
        plan = plan_edit(manifest, edit["clip_id"], edit.get("request", {}))
        old = manifest["clips"][plan.index]
        out_dir = manifest_path.parent
        signals_path = self.settings.jobs_dir / job_id / "signals.npz"
        if not signals_path.is_file():
            raise InputError(f"job {job_id}'s analysis is gone (expired?); it cannot be edited",
                             code="signals_missing")
        signals = await asyncio.to_thread(Signals.load, str(signals_path))
        inputs = clip_inputs(signals, plan.start_s, plan.end_s)
        words = None if inputs.words is None else fixed_words(inputs.words, plan.caption_fixes)
        options = {**manifest["options"], "aspect": plan.aspect}
        media_path = str(self._download_path(job)) if is_url(job["request"]["path"]) else source["path"]
        render = {**render_settings(self.settings), "layout": plan.layout}
        rendered = await self.pool.run(
            tasks.render_task, job_id, 0, 1, media_path, plan.start_s, plan.end_s, words, inputs.cuts_s, options,
            str(out_dir / f"{edited_file_stem(old, plan)}.mp4"), render, inputs.loudness_db, signals.hop_s, None,
            job_id=job_id)
        entry = edited_entry(job_id, old, plan, edit["edit_id"], rendered, manifest["options"]["aspect"])
        edited = with_clip(manifest, entry)
        if edited.get("timeline"):
            await asyncio.to_thread(write_timeline, str(out_dir), media_path, source["fps"], edited["clips"],
                                    manifest["options"]["aspect"], source["duration_s"], bool(source.get("has_audio")))
        await asyncio.to_thread(write_json_atomic, manifest_path, edited)  # then the caller tidies the folder
        log.info("job %s: clip %s is now version %d (%s)", job_id, plan.clip_id, plan.version, entry["file"])
        return edited, entry
