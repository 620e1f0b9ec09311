"""An in-memory JobService: a test double of our own interface, for testing the HTTP layer and the page."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from streamapp.errors import InputError, StreamappError
from streamapp.stages.export import find_clip, plan_edit

STAGE_OF_STATE = {"queued": "submit", "extracting": "extract", "scoring": "score", "exporting": "export",
                  "done": "export", "failed": "extract"}


class MemoryJobService:
    """Jobs in a dict; each job's clip folder is ``root/clips/<job_id>``; uploads go to ``root/uploads``.

    ``input_root`` plays the worker's allowed input folder: paths outside it are input_forbidden,
    missing files input_missing.
    """

    def __init__(self, root: Path, input_root: Path | None = None) -> None:
        self.root = root
        self.input_root = input_root
        self.jobs: dict[str, dict[str, Any]] = {}
        self.manifests: dict[str, dict[str, Any]] = {}
        self.series: dict[str, dict[str, list[float]]] = {}
        self.submitted: list[tuple[str, dict[str, Any], str]] = []
        self.cancelled: list[tuple[str, str | None]] = []
        self.edited: list[tuple[str, str, dict[str, Any]]] = []
        self.transcripts: dict[str, list[dict[str, Any]]] = {}  # job id -> words, source time

    # -- JobService ---------------------------------------------------------------------------
    async def list_jobs(self, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        jobs = [j for j in self.jobs.values() if state is None or j["state"] == state]
        jobs.sort(key=lambda j: j["created_at"], reverse=True)
        return [dict(j) for j in jobs[:limit]]

    async def get_job(self, job_id: str) -> dict[str, Any] | None:
        job = self.jobs.get(job_id)
        return dict(job) if job else None

    async def submit(self, path: str, options: dict[str, Any], priority: str,
                     name: str | None = None, live: bool = False) -> dict[str, Any]:
        resolved = Path(path).resolve()
        roots = [self.input_root.resolve(), self.upload_dir().resolve()] if self.input_root else []
        if roots and not any(resolved.is_relative_to(root) for root in roots):
            raise InputError(f"{path} is outside the allowed input folders", code="input_forbidden")
        if not live and not resolved.is_file():
            raise InputError(f"{path} does not exist", code="input_missing")
        self.submitted.append((path, options, priority))
        return self.add_job(uuid.uuid4().hex[:16], "queued", path=str(resolved), priority=priority,
                            request={"path": str(resolved), "options": options, "priority": priority,
                                     "out_dir": str(self.root / "clips"), **({"name": name} if name else {}),
                                     **({"live": True} if live else {})})

    async def cancel(self, job_id: str, reason: str | None = None) -> dict[str, Any]:
        job = self.jobs.get(job_id)
        if job is None:
            raise StreamappError(f"no job {job_id}", code="job_unknown", permanent=True)
        if job["state"] in ("done", "failed"):
            raise StreamappError(f"job {job_id} has already ended", code="job_ended", permanent=True)
        job["cancel_requested"] = time.time()
        self.cancelled.append((job_id, reason))
        return dict(job)

    async def stop(self, job_id: str) -> dict[str, Any]:
        job = self.jobs.get(job_id)
        if job is None:
            raise StreamappError(f"no job {job_id}", code="job_unknown", permanent=True)
        if job["state"] in ("done", "failed"):
            raise StreamappError(f"job {job_id} has already ended", code="job_ended", permanent=True)
        if not (job.get("request") or {}).get("live"):
            raise StreamappError(f"job {job_id} is not live", code="job_not_live", permanent=True)
        job["stop_requested"] = time.time()
        return dict(job)

    async def edit(self, job_id: str, clip_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        job = self.jobs.get(job_id)
        if job is None:
            raise StreamappError(f"no job {job_id}", code="job_unknown", permanent=True)
        if job["state"] != "done" or job_id not in self.manifests:
            raise StreamappError(f"job {job_id} is {job['state']}", code="job_not_done", permanent=True)
        plan_edit(self.manifests[job_id], clip_id, changes)
        edit = {"edit_id": uuid.uuid4().hex[:16], "job_id": job_id, "clip_id": clip_id, "state": "pending",
                "at": time.time(), "request": changes}
        job.setdefault("edits", []).append({k: v for k, v in edit.items() if k != "job_id"})
        self.edited.append((job_id, clip_id, changes))
        return edit

    async def words(self, job_id: str, clip_id: str) -> dict[str, Any] | None:
        manifest = self.manifests.get(job_id)
        if manifest is None or job_id not in self.transcripts:
            return None
        _, clip = find_clip(manifest, clip_id)
        near = [w for w in self.transcripts[job_id] if clip["start_s"] - 15 < w["end_s"] and
                w["start_s"] < clip["end_s"] + 15]
        return {"clip_id": clip_id, "duration_s": manifest["source"]["duration_s"], "words": near}

    async def manifest(self, job_id: str) -> dict[str, Any] | None:
        return self.manifests.get(job_id)

    def clip_path(self, job_id: str, name: str) -> Path | None:
        folder = (self.root / "clips" / job_id).resolve()
        path = (folder / name).resolve()
        if path.parent != folder or not path.is_file():
            return None
        return path

    def upload_dir(self) -> Path:
        return self.root / "uploads"

    async def signals(self, job_id: str) -> dict[str, list[float]] | None:
        return self.series.get(job_id)

    # -- test helpers -------------------------------------------------------------------------
    def add_job(self, job_id: str, state: str, progress: float = 0.0, **extra: Any) -> dict[str, Any]:
        now = time.time()
        job = {"job_id": job_id, "state": state, "stage": STAGE_OF_STATE[state], "progress": progress,
               "attempts": 1 if state != "queued" else 0, "error": None, "path": "/videos/talk.mp4",
               "priority": "normal", "created_at": now, "updated_at": now, **extra}
        self.jobs[job_id] = job
        return dict(job)

    def clip_dir(self, job_id: str) -> Path:
        folder = self.root / "clips" / job_id
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def manifest_for(job_id: str, clips: list[tuple[float, float, float]], duration_s: float = 60.0) -> dict[str, Any]:
    """A manifest with one clip per (start_s, end_s, score); files clip-NN.mp4/.jpg/.vtt."""
    entries = []
    for index, (start, end, score) in enumerate(clips):
        stem = f"clip-{index + 1:02d}"
        entries.append({
            "id": f"{job_id}-{index + 1:02d}", "start_s": start, "end_s": end, "score": score,
            "subscores": {"audio_energy": 81.0, "motion": 54.5, "hook": 70.0, "boundaries": 90.0},
            "reason": "loud, fast-moving moment that starts on a cut",
            "file": f"{stem}.mp4", "width": 180, "height": 320, "captions_srt": f"{stem}.srt",
            "captions_vtt": f"{stem}.vtt", "thumbnail": f"{stem}.jpg",
        })
    return {
        "schema_version": 1, "job_id": job_id,
        "source": {"path": "/videos/talk.mp4", "sha256": "0" * 64, "duration_s": duration_s, "width": 320,
                   "height": 180, "fps": 25, "has_audio": True},
        "options": {"max_clips": 5, "min_duration_s": 15.0, "max_duration_s": 60.0, "aspect": "9:16"},
        "clips": entries, "captions": None,
        "timings_s": {"extract": 1.0, "score": 0.2, "export": 3.0},
    }
