"""manifest.json: one per job, beside its clips."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

import orjson

from streamapp.events import SCHEMA_VERSION, validate_manifest
from streamapp.fileio import write_bytes_atomic

SOURCE_FIELDS = ("path", "sha256", "duration_s", "width", "height", "fps", "has_audio")


def _name(path: str | None) -> str | None:
    return Path(path).name if path else None


_SLUG_MAX = 40


def clip_stem(rank: int, title: str | None) -> str:
    """A clip's file name without extension: its rank, then a short ASCII slug of its title
    ("clip-01-why-do-some-rooms-feel-so-much"), the same on every run of the same job. Titles with no
    Latin letters (Chinese, Russian...) give the rank alone: file names stay portable."""
    ascii_title = unicodedata.normalize("NFKD", title or "").encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title).strip("-")
    if len(slug) > _SLUG_MAX:
        slug = slug[:_SLUG_MAX].rsplit("-", 1)[0] if "-" in slug[:_SLUG_MAX] else slug[:_SLUG_MAX]
    return f"clip-{rank:02d}" + (f"-{slug}" if slug else "")


def clip_entry(job_id: str, index: int, candidate: dict[str, Any], rendered: dict[str, Any]) -> dict[str, Any]:
    """One clip of the manifest; file fields are names inside the job's folder, null when absent.

    start_s/end_s are the rendered clip's true edges (its first frame and its end) when the renderer
    reports them, else the candidate's.
    """
    start = rendered.get("start_s") if rendered.get("end_s") else None
    entry = {
        "id": f"{job_id}-{index + 1:02d}",
        "start_s": round(start if start is not None else candidate["start_s"], 3),
        "end_s": round(rendered["end_s"] if start is not None else candidate["end_s"], 3),
        "score": candidate["score"],
        "subscores": candidate["subscores"],
        "reason": candidate["reason"],
        "title": candidate.get("title", ""),
        "file": Path(rendered["path"]).name,
        "width": rendered["width"],
        "height": rendered["height"],
        "captions_srt": _name(rendered.get("captions_srt")),
        "captions_vtt": _name(rendered.get("captions_vtt")),
        "captions_reason": rendered.get("captions_reason"),
        "thumbnail": _name(rendered.get("thumbnail")),
        "layout": rendered.get("layout"),
        "crop_path": rendered.get("crop_path"),
    }
    for name in ("panels", "shots", "caption_boxes"):
        if rendered.get(name):
            entry[name] = rendered[name]
    if rendered.get("loudness") is not None:
        entry["loudness"] = rendered["loudness"]
    if rendered.get("captions_burned") is False:
        entry["captions_burned"] = False
    return entry


def build_manifest(
    job_id: str,
    source: dict[str, Any],
    options: dict[str, Any],
    clips: list[dict[str, Any]],
    timings_s: dict[str, float],
    timeline: str | None = None,
    timeline_fcpxml: str | None = None,
    language: str | None = None,
    live: dict[str, Any] | None = None,
) -> dict[str, Any]:
    reasons = {c["captions_reason"] for c in clips if not c.get("captions_srt") and c.get("captions_reason")}
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "job_id": job_id,
        "source": {name: source[name] for name in SOURCE_FIELDS},
        "options": options,
        "clips": clips,
        "language": language or None,
        "captions": "; ".join(sorted(reasons)) or None,  # why clips carry no captions, when they don't
        "timeline": timeline,
        "timeline_fcpxml": timeline_fcpxml,
        "timings_s": {name: round(value, 3) for name, value in timings_s.items()},
    }
    if live is not None:
        manifest["live"] = live
    return validate_manifest(manifest)


def manifest_files(manifest: dict[str, Any]) -> set[str]:
    """Every file a job's folder should hold: what the manifest names, and the manifest itself."""
    names = {"manifest.json", manifest.get("timeline"), manifest.get("timeline_fcpxml")}
    for clip in manifest["clips"]:
        names |= {clip["file"], clip.get("thumbnail"), clip.get("captions_srt"), clip.get("captions_vtt")}
    return {name for name in names if name}


def write_json_atomic(path: Path, value: Any) -> None:
    """Write to a temporary name and rename, so readers never see half a file."""
    write_bytes_atomic(path, orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
