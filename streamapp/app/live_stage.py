"""A live job's stage: follow the playlist, analyse the stream piece by piece in the pool, render and announce each
clip as soon as it is chosen, and end the job when the stream ends.

It runs where extract runs for a file (StageRunner.extract hands a live job here), as one long stage in the
state ``extracting``: each step is short (a playlist read in a thread, a piece's analysis or a clip's render in
a pool process), so the event loop stays free, and after each step the job's record on disk (app/live.py) says
how far it got. A worker that restarts runs the stage again and it goes on from there: segments already taken
are not taken again, a clip chosen but not rendered is rendered, and one rendered but not announced is announced.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamapp import events, metrics
from streamapp.app import tasks
from streamapp.app.job_files import JobFiles, StopCheck
from streamapp.app.live import LIVE_DIR, LiveStream, Piece, TakenSegment, concatenate
from streamapp.app.runner import check_request_path, extract_params, job_options, render_settings
from streamapp.errors import InputError, StreamappError
from streamapp.fileio import remove_temp_files
from streamapp.manifest import build_manifest, clip_entry, clip_stem, write_json_atomic
from streamapp.media.hls import SourceReader

if TYPE_CHECKING:
    from streamapp.app.runner import StageRunner

log = logging.getLogger("streamapp.live")


class LiveStage:
    def __init__(self, runner: StageRunner, job: dict[str, Any]) -> None:
        self.runner = runner
        self.job = job
        self.job_id = job["job_id"]
        self.request = job["request"]
        settings = runner.settings
        self.settings = settings
        self.folder = settings.jobs_dir / self.job_id / LIVE_DIR
        files = JobFiles.of(settings, job)
        self.stop_mark = str(files.stop_mark)
        self.end_mark = files.end_mark
        self.options = job_options(settings, self.request)
        self.out_dir = Path(self.request["out_dir"]) / self.job_id
        reader = SourceReader(settings.allow_urls, settings.url_trusted_hosts)
        self.stream = LiveStream(self.folder, self.request["path"], reader, settings.live_idle_timeout_s,
                                 settings.live_piece_s)
        self.params, self.asr = extract_params(settings)
        self.reported: dict[str, Any] | None = None  # the last progress put on the job-status log
        explicit_cap = self.request.get("options", {}).get("max_clips")
        self.live_options = {
            "lookahead_s": settings.live_lookahead_s, "clips_per_hour": settings.live_clips_per_hour,
            "min_score": settings.live_min_score, "top_share": settings.live_top_share,
            "warmup_s": settings.live_warmup_s, "max_clips": explicit_cap,
        }

    async def run(self) -> None:
        check_request_path(self.request["path"], self.settings)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if self.stream.resumed:
            log.info("live job %s resumes after segment %d with %d clip(s) made", self.job_id,
                     self.stream.record.last_sequence, len(self.stream.record.clips))
        await self.report()
        await self.announce_segments()
        await self.announce_made()
        await self.render_pending()
        while not self.stream.ended:
            StopCheck(self.stop_mark)()  # a cancel: the scheduler ends the job
            if self.job.get("stop_requested") or self.end_mark.exists():  # a stop: the stream ends here
                self.stream.end("stopped")
            elif not self.stream.record.ended_by:
                # Between any two pieces: a sliding playlist drops segments a job behind it has not read yet.
                await self.take_segments()
            piece = self.stream.next_piece()
            if piece is not None:
                await self.analyse(piece)
            elif not self.stream.ended:
                await self.report()
                await asyncio.sleep(self.stream.poll_interval_s())
        await self.finish()

    async def take_segments(self) -> None:
        try:
            taken = await self.runner.pool.run_in_thread(self.stream.take_new_segments, job_id=self.job_id)
        except InputError as exc:
            if exc.code != "live_source_stalled" or not self.stream.record.segment_count:
                raise  # a stream that never started, or a refused source: the job fails with the reason
            log.warning("live job %s: %s; ending with what it has", self.job_id, exc.message)
            self.stream.end("stalled")
            return
        if taken:
            await self.announce_segments()
        if self.stream.follower.ended:
            self.stream.end("endlist")
        elif self.stream.record.next_start_s > self.settings.max_duration_input_s:
            log.warning("live job %s reached the duration limit; ending it", self.job_id)
            self.stream.end("stopped")

    async def announce_segments(self) -> None:
        """A segment event for every segment taken and not yet announced (after a restart, too): the record is
        saved before the events go out, so a kill between the two leaves them to announce, never lost."""
        record = self.stream.record
        fresh = [s for s in record.segments if s.sequence > record.segments_announced]
        for segment in fresh:
            problem = {"code": "segment_undecodable", "message": segment.problem} if segment.problem else None
            await self.runner.send("segments", self.segment_event(segment, problem))
        if fresh:
            record.segments_announced = fresh[-1].sequence
            self.stream.save()

    def segment_event(self, segment: TakenSegment, warning: dict[str, str] | None = None) -> dict[str, Any]:
        extra = {"warning": warning} if warning else {}
        return events.new_event("segment", self.job_id, sequence=segment.sequence, start_s=round(segment.start_s, 3),
                                duration_s=round(segment.duration_s, 3), at=time.time(), **extra)

    async def analyse(self, piece: Piece) -> None:
        record = self.stream.record
        end_s = piece.segments[-1].end_s
        work = tasks.LivePiece(
            self.job_id, str(self.folder), piece.files, piece.offset_s, piece.owned_to_s, end_s, piece.final,
            self.params, self.asr, self.options, self.live_options, dict(self.settings.score_weights),
            record.selector, self.stop_mark)
        result = await self.runner.pool.run(tasks.live_piece_task, work, job_id=self.job_id)
        warning = result["warning"]
        owned = piece.segments if piece.owned_to_s is None else piece.segments[:-1]
        self.stream.piece_done(piece, skipped=warning is not None)
        record.selector = result["selector"]
        record.info = record.info or result["info"]
        record.language = record.language or result["language"]
        for name in ("extract", "score"):
            record.timings_s[name] = record.timings_s.get(name, 0.0) + result["timings_s"][name]
        record.pending = list(result["clips"])
        self.stream.save()  # the pieces' progress and the clips chosen, before any is rendered
        if warning:
            log.warning("live job %s: segments %d-%d skipped: %s", self.job_id, owned[0].sequence,
                        owned[-1].sequence, warning["message"])
            for segment in owned:
                if segment.skipped:  # not the lead-in, which an earlier piece analysed
                    await self.runner.send("segments", self.segment_event(segment, warning))
        await self.render_pending()
        keep_from = float(record.selector["decided_to_s"]) - float(self.options["max_duration_s"]) - 5.0
        self.stream.forget_old_segments(keep_from)
        self.stream.save()
        await self.report()

    async def render_pending(self) -> None:
        record = self.stream.record
        while record.pending:
            candidate = record.pending[0]
            try:
                entry = await self.render(candidate, len(record.clips))
            except StreamappError as exc:
                if not exc.permanent:
                    raise  # the scheduler retries the stage, which renders it again from the record
                # One clip that cannot be made must not end a stream that goes on: it is left out, said once.
                log.warning("live job %s: clip %.1f-%.1f s left out: %s", self.job_id, candidate["start_s"],
                            candidate["end_s"], exc)
                record.pending.pop(0)
                self.stream.save()
                continue
            record.clips.append(entry)
            record.pending.pop(0)
            self.stream.save()
            await self.write_manifest(self.manifest(None))  # the manifest grows with the stream
            metrics.LIVE_CLIP_LATENCY.observe(self.stream.latency_s(entry["end_s"]))
            await self.announce_made()

    async def render(self, candidate: dict[str, Any], index: int) -> dict[str, Any]:
        """One clip, rendered from the segments that hold it (on their own clock), its entry in stream time."""
        start, end = candidate["start_s"], candidate["end_s"]
        files, shift = self.stream.clip_source(start, end)
        source = concatenate(files, self.folder / "clip-source.ts", self.folder / "init.mp4")
        inputs = candidate["inputs"]
        words = None if inputs["words"] is None else [
            {**w, "start_s": w["start_s"] - shift, "end_s": w["end_s"] - shift} for w in inputs["words"]]
        cuts = [c - shift for c in inputs["cuts_s"]]
        out_path = self.out_dir / f"{clip_stem(index + 1, candidate.get('title'))}.mp4"
        started = time.perf_counter()
        rendered = await self.runner.pool.run(
            tasks.render_task, self.job_id, index, index + 1, str(source), start - shift, end - shift, words, cuts,
            self.options, str(out_path), render_settings(self.settings), inputs["loudness_db"], self.settings.hop_s,
            self.stop_mark, job_id=self.job_id)
        self.stream.record.timings_s["export"] = self.stream.record.timings_s.get("export", 0.0) + (
            time.perf_counter() - started)
        for name in ("start_s", "end_s"):
            if rendered.get(name) is not None:
                rendered[name] = rendered[name] + shift
        return clip_entry(self.job_id, index, candidate, rendered)

    async def announce_made(self) -> None:
        """clip_ready for every clip made and not yet announced (after a restart, too)."""
        record = self.stream.record
        while record.announced < len(record.clips):
            await self.runner.send("results", events.new_event("clip_ready", self.job_id,
                                                               clip=record.clips[record.announced]))
            record.announced += 1
            self.stream.save()

    async def report(self) -> None:
        """The stream's progress on the job-status log, when it has moved (not every poll of a quiet stream)."""
        record = self.stream.record
        edge = self.analysed_to()
        lag = max(0.0, record.next_start_s - edge)
        metrics.LIVE_SEGMENT_LAG.set(lag)
        live = {"edge_s": round(edge, 3), "segments": record.segment_count, "clips": len(record.clips),
                "lag_s": round(lag, 3)}
        if live == self.reported:
            return
        self.reported = live
        await self.runner.status(self.job, "extracting", "extract", 0.0, live=live)

    def analysed_to(self) -> float:
        analysed = [s for s in self.stream.record.segments if s.analysed]
        return max((s.end_s for s in analysed), default=0.0)

    def manifest(self, ended_by: str | None) -> dict[str, Any]:
        """The job's manifest: the clips so far and, once ``ended_by`` is given, the stream's end."""
        record = self.stream.record
        info = record.info or {"width": 0, "height": 0, "fps": 0.0, "has_audio": False}
        source = {"path": self.request["path"], "sha256": record.digest or "0" * 64,
                  "duration_s": round(record.next_start_s, 3), **info}
        live = {"segments": record.segment_count, "skipped_segments": record.skipped_count,
                "missed_segments": record.missed_count, "ended_by": ended_by}
        return build_manifest(self.job_id, source, self.options, list(record.clips), dict(record.timings_s),
                              language=record.language or None, live=live)

    async def write_manifest(self, manifest: dict[str, Any]) -> Path:
        path = self.out_dir / "manifest.json"
        await asyncio.to_thread(write_json_atomic, path, manifest)
        return path

    async def finish(self) -> None:
        record = self.stream.record
        if not record.segment_count:
            raise InputError("the live stream ended before any segment arrived", code="live_empty")
        manifest = self.manifest(record.ended_by or "endlist")
        manifest_path = await self.write_manifest(manifest)
        await asyncio.to_thread(remove_temp_files, self.out_dir)
        metrics.LIVE_SEGMENT_LAG.set(0.0)
        await self.runner.send("results", events.new_event(
            "job_done", self.job_id, manifest_path=str(manifest_path), manifest=manifest))
        await self.runner.status(self.job, "done", "export", 1.0, timings_s=manifest["timings_s"])
        metrics.JOBS_FINISHED.inc()
