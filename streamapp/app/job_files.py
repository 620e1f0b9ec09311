"""Where a job's files live, and their removal when the job is cancelled or expires.

A job writes its clips under ``<out_dir>/<job_id>`` (the folder its request names), its signals under
``<jobs_dir>/<job_id>``, and a URL input under ``<data_dir>/downloads/<job_id>.<ext>``.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamapp.errors import JobCancelled
from streamapp.settings import Settings

# Written into the job's work folder when it is cancelled: pool processes still working for the job see it
# and stop (a stage's pool call cannot be interrupted from outside once it runs).
STOP_MARK = ".cancel"
# Written there when a live job is told to stop: its live stage ends the stream at its next step (app/live_stage.py).
END_MARK = ".end"


@dataclass(frozen=True)
class JobFiles:
    job_id: str
    outputs: Path | None  # the clips folder; None when the record does not say (the request never arrived)
    work: Path
    downloads: Path
    upload: Path | None  # an input uploaded through the API, which the service holds for the job

    @classmethod
    def of(cls, settings: Settings, record: dict[str, Any], upload_dir: Path | None = None) -> JobFiles:
        job_id = record["job_id"]
        request = record.get("request") or {}
        outputs = Path(request["out_dir"]) / job_id if request.get("out_dir") else None
        path = Path(str(request.get("path", "")))
        upload = path if upload_dir is not None and path.is_relative_to(upload_dir) else None
        return cls(job_id, outputs, settings.jobs_dir / job_id, settings.data_dir / "downloads", upload)

    @property
    def stop_mark(self) -> Path:
        return self.work / STOP_MARK

    @property
    def end_mark(self) -> Path:
        return self.work / END_MARK

    def mark_ended(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        self.end_mark.touch()

    def mark_stopped(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        self.stop_mark.touch()

    def remove_outputs(self) -> None:
        """The clips folder, whole: a cancelled job leaves neither half files nor clips of a partial export."""
        if self.outputs is not None:
            shutil.rmtree(self.outputs, ignore_errors=True)

    def remove_working(self) -> None:
        """Signals, transcripts, the stop mark, a downloaded input and an uploaded one."""
        shutil.rmtree(self.work, ignore_errors=True)
        for download in self.downloads.glob(f"{self.job_id}.*"):
            download.unlink(missing_ok=True)
        if self.upload is not None:
            self.upload.unlink(missing_ok=True)


class StopCheck:
    """Inside a pool process: raises JobCancelled once the job's stop mark exists (looked for at most every
    ``every_s``, so it can sit in a per-frame progress callback)."""

    def __init__(self, mark: str | None, every_s: float = 0.5) -> None:
        self._mark = Path(mark) if mark else None
        self._every_s = every_s
        self._next = 0.0

    def __call__(self) -> None:
        if self._mark is None:
            return
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self._every_s
        if self._mark.exists():
            raise JobCancelled("the job was cancelled")
