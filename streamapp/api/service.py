"""What the HTTP layer needs from a worker: the ``JobService`` protocol.

The worker implements it over its jobs table, submitter and data folders; tests implement it in
memory. Every method answers from local state or raises a ``StreamappError`` for a bad request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

JobRecord = dict[str, Any]


@runtime_checkable
class JobService(Protocol):
    async def list_jobs(self, state: str | None = None, limit: int = 100) -> list[JobRecord]:
        """Newest first. Records like the jobs table's: job_id, state, stage, progress, attempts, error,
        path, priority, created_at, updated_at (extra keys are allowed; the API shows only public ones)."""
        ...

    async def get_job(self, job_id: str) -> JobRecord | None:
        """The job's record, or None when no such job is known."""
        ...

    async def submit(self, path: str, options: dict[str, Any], priority: str, name: str | None = None,
                     live: bool = False) -> JobRecord:
        """Publish a submission; return the new record (state "queued"). ``name``: an upload's original file
        name, shown instead of the path's last part. ``live``: the path is an HLS playlist followed while it
        grows (it need not exist yet).

        Raises ``streamapp.errors.InputError`` (codes such as input_forbidden, input_missing,
        input_invalid) for a request that can never work, ``TransientError`` when the broker is away.
        """
        ...

    async def cancel(self, job_id: str, reason: str | None = None) -> JobRecord:
        """Ask for the job to be stopped; return its record with ``cancel_requested`` set. The job's worker
        ends it as failed with code "cancelled" (unless it ends first). Raises ``ApiError`` job_unknown for no
        such job and job_ended for one that has already ended."""
        ...

    async def stop(self, job_id: str) -> JobRecord:
        """Tell a live job to end its stream now; return its record with ``stop_requested`` set. The job's worker
        makes the clips still open and ends it as done. Raises ``ApiError`` job_unknown, job_ended, and
        job_not_live for a job that is not live."""
        ...

    async def edit(self, job_id: str, clip_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Ask for one clip of a done job to be rendered again with ``changes`` (checked clip_edit fields); return
        the edit as the job's ``edits`` will show it (state "pending"). The job's worker renders the new version
        and the job's record shows the edit "done" (with its version and file) or "failed". Raises
        StreamappError job_unknown, job_not_done, clip_unknown, edit_invalid (a range outside the video...)."""
        ...

    async def words(self, job_id: str, clip_id: str) -> dict[str, Any] | None:
        """``{clip_id, duration_s, words: [{start_s, end_s, text}]}``: the transcript around a clip (to trim to
        and correct), the clip's caption fixes applied; None when the job has no transcript or manifest.
        Raises StreamappError clip_unknown."""
        ...

    async def manifest(self, job_id: str) -> dict[str, Any] | None:
        """The job's manifest.json, or None until it exists."""
        ...

    def clip_path(self, job_id: str, name: str) -> Path | None:
        """A file in the job's clip folder (clip mp4, jpg thumbnail, srt/vtt captions), or None.

        Must return None for any name that would leave the folder (the route checks names too).
        """
        ...

    def upload_dir(self) -> Path:
        """The folder uploads are written to; it must be inside the allowed input roots."""
        ...

    async def signals(self, job_id: str) -> dict[str, list[float]] | None:
        """``{"t_s": [...], "score": [...]}``: the video's score over time, or None when not computed."""
        ...
