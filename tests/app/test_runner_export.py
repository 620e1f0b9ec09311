"""An export that starts after the job's export already finished announces it and writes nothing."""

from __future__ import annotations

import asyncio
import json

from streamapp.app.runner import StageRunner, finished_manifest
from streamapp.manifest import build_manifest
from streamapp.settings import Settings


class _NoPool:
    async def run(self, *args, **kwargs):  # pragma: no cover - reaching it is the failure
        raise AssertionError("a finished job was rendered again")


def _manifest(job_id: str) -> dict:
    clip = {"id": f"{job_id}-01", "start_s": 1.0, "end_s": 9.0, "score": 70.0, "subscores": {"hook": 70.0},
            "reason": "r", "title": "t", "file": "clip-01.mp4", "width": 1080, "height": 1920,
            "captions_srt": None, "captions_vtt": None, "thumbnail": None}
    source = {"path": "/x.mp4", "sha256": "0" * 64, "duration_s": 30.0, "width": 1280, "height": 720,
              "fps": 30.0, "has_audio": True}
    return build_manifest(job_id, source, {}, [clip], {"extract": 1.0, "score": 0.1, "export": 1.0})


def test_export_after_done_touches_nothing_and_says_what_was_made(tmp_path):
    job_id = "finishedjob01"
    folder = tmp_path / job_id
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps(_manifest(job_id)))
    (folder / "clip-01.mp4").write_bytes(b"rendered before")
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    sent: list[tuple[str, dict]] = []

    async def send(role: str, event: dict) -> None:
        sent.append((role, event))

    job = {"job_id": job_id, "state": "exporting", "request": {"out_dir": str(tmp_path), "path": "/x.mp4",
                                                               "options": {}, "priority": "normal"},
           "source": {"path": "/x.mp4"}, "candidates": [{"start_s": 1.0}], "attempts": 0}
    runner = StageRunner(Settings(), _NoPool(), None, send)  # type: ignore[arg-type]
    asyncio.run(runner.export(job))
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    assert [(role, e["type"]) for role, e in sent] == [("results", "clip_ready"), ("results", "job_done"),
                                                        ("job_status", "job_status")]
    assert sent[-1][1]["state"] == "done"


def test_finished_manifest_belongs_to_its_job(tmp_path):
    path = tmp_path / "manifest.json"
    assert finished_manifest(path, "a") is None
    path.write_text(json.dumps(_manifest("other")))
    assert finished_manifest(path, "a") is None
    path.write_text("{half a file")
    assert finished_manifest(path, "a") is None
    path.write_text(json.dumps(_manifest("a")))
    assert finished_manifest(path, "a")["job_id"] == "a"
