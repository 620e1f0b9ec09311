"""Export's pure core: what each clip's render reads from the job's signals, which files a re-run leaves stale,
and clip edits (what a clip_edit asks for, checked against the clip and its source, and the manifest that
results). Rendering itself is export/render.py; the runner wires the two in the process pool.

An edit names the fields it changes (range, aspect, layout, caption words); the rest keep the clip's current
values, so edits stack. Each applied edit makes a new version of the clip under a new file name (the old file
stays until the manifest points at the new one), and caption fixes are kept on the clip so a later trim does
not bring the wrong word back.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from streamapp.errors import InputError
from streamapp.events import standalone_schema, validate_manifest
from streamapp.manifest import clip_entry, clip_stem
from streamapp.stages.extract import Signals

MIN_EDITED_CLIP_S = 1.0
MAX_EDITED_CLIP_S = 3600.0  # as the longest clip a job may ask for (options: max_duration_s)
# A fix names its word by the word's start; times pass through JSON and the page, so they match within this.
WORD_MATCH_S = 0.05
EDIT_FIELDS = ("start_s", "end_s", "aspect", "layout", "caption_fixes")
MAX_CAPTION_FIXES = 500  # per clip, all edits together (schemas: clip caption_fixes)
APPLIED_EDITS_KEPT = 50  # schemas: clip applied_edits


@dataclass(frozen=True)
class ClipInputs:
    """What one clip's render reads from the job's signals: its words in source time (None: no transcript),
    the shot cuts inside it, and the loudness per hop from its start (who speaks, for the camera)."""

    words: list[dict[str, Any]] | None
    cuts_s: list[float]
    loudness_db: list[float] | None


def clip_inputs(signals: Signals, start_s: float, end_s: float) -> ClipInputs:
    words = [w for w in signals.words if w["end_s"] > start_s and w["start_s"] < end_s] if signals.words else None
    cuts = [float(c) for c in signals.cuts_s if start_s < c < end_s]
    loudness = None
    if signals.has_audio and len(signals.loudness_db):
        first, last = int(round(start_s / signals.hop_s)), int(math.ceil(end_s / signals.hop_s))
        loudness = [float(v) for v in signals.loudness_db[first:last]]
    return ClipInputs(words, cuts, loudness)


def stale_clip_files(names: Iterable[str], clips: Iterable[Mapping[str, Any]]) -> list[str]:
    """The clip files among ``names`` (a job folder's) that no clip of ``clips`` owns: left by an earlier run that
    made more clips, or named by an older title. A clip owns every file sharing its file's stem."""
    owned = {Path(clip["file"]).stem for clip in clips}
    return sorted(n for n in names if n.startswith("clip-") and n.split(".")[0] not in owned)


@dataclass(frozen=True)
class ClipEdit:
    """One clip's next version: its range in the source, framing, and every caption fix it carries."""

    clip_id: str
    index: int  # the clip's place in the manifest (its rank - 1)
    start_s: float
    end_s: float
    aspect: str
    layout: str
    caption_fixes: tuple[tuple[float, str], ...]  # (word start in the source, text), by time
    version: int

    def fixes_json(self) -> list[dict[str, Any]]:
        return [{"start_s": t, "text": text} for t, text in self.caption_fixes]


@functools.cache
def _changes_schema() -> dict[str, Any]:
    event = standalone_schema("clip_edit")
    return {"type": "object", "additionalProperties": False,
            "properties": {name: event["properties"][name] for name in EDIT_FIELDS}}


def edit_changes_schema() -> dict[str, Any]:
    """What an edit request may change: clip_edit's fields of that name (schemas/clip_edit.schema.json),
    standalone, for the OpenAPI document and ``check_changes``."""
    return copy.deepcopy(_changes_schema())


def check_changes(changes: Any) -> dict[str, Any]:
    """``changes`` if it is an object of clip_edit fields with valid values; else InputError edit_invalid."""
    error = next(iter(Draft202012Validator(_changes_schema()).iter_errors(changes)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "the body"
        raise InputError(f"edit: {where}: {error.message}"[:300], code="edit_invalid")
    times = [changes.get("start_s", 0.0), changes.get("end_s", 1.0)]
    times += [f["start_s"] for f in changes.get("caption_fixes", [])]
    if not all(math.isfinite(t) for t in times):  # NaN passes every bound of a JSON Schema
        raise InputError("edit: times must be finite numbers", code="edit_invalid")
    return dict(changes)


def find_clip(manifest: Mapping[str, Any], clip_id: str) -> tuple[int, dict[str, Any]]:
    for index, clip in enumerate(manifest["clips"]):
        if clip["id"] == clip_id:
            return index, clip
    raise InputError(f"job {manifest['job_id']} has no clip {clip_id}", code="clip_unknown")


def plan_edit(manifest: Mapping[str, Any], clip_id: str, changes: Mapping[str, Any]) -> ClipEdit:
    """The clip's next version after ``changes`` (clip_edit fields; absent ones keep the clip's values).

    Raises InputError clip_unknown for no such clip, edit_invalid for a range that is empty, shorter than
    MIN_EDITED_CLIP_S, longer than MAX_EDITED_CLIP_S or outside the source.
    """
    index, clip = find_clip(manifest, clip_id)
    duration = float(manifest["source"]["duration_s"])
    start = float(changes.get("start_s", clip["start_s"]))
    end = min(float(changes.get("end_s", clip["end_s"])), duration)
    if start >= duration:
        raise InputError(f"the clip would start at {start:.2f} s, after the video's end ({duration:.2f} s)",
                         code="edit_invalid")
    if end - start < MIN_EDITED_CLIP_S:
        raise InputError(f"the clip would last {max(end - start, 0.0):.2f} s; at least {MIN_EDITED_CLIP_S:.0f} s "
                         "is needed (is the end before the start?)", code="edit_invalid")
    if end - start > MAX_EDITED_CLIP_S:
        raise InputError(f"the clip would last {end - start:.0f} s; at most {MAX_EDITED_CLIP_S:.0f} s",
                         code="edit_invalid")
    fixes = {round(float(f["start_s"]), 3): f["text"] for f in clip.get("caption_fixes", [])}
    fixes.update({round(float(f["start_s"]), 3): f["text"] for f in changes.get("caption_fixes", [])})
    if len(fixes) > MAX_CAPTION_FIXES:
        raise InputError(f"a clip holds at most {MAX_CAPTION_FIXES} caption fixes", code="edit_invalid")
    return ClipEdit(
        clip_id=clip_id, index=index, start_s=round(start, 3), end_s=round(end, 3),
        aspect=changes.get("aspect", clip.get("aspect") or manifest["options"]["aspect"]),
        layout=changes.get("layout", clip.get("layout_choice", "auto")),
        caption_fixes=tuple(sorted(fixes.items())), version=int(clip.get("version", 1)) + 1,
    )


def fixed_words(words: Sequence[Mapping[str, Any]], fixes: Sequence[tuple[float, str]]) -> list[dict[str, Any]]:
    """The transcript's words with fixes applied: each fix replaces the text of the word starting at its time
    (the nearest within WORD_MATCH_S); an empty text removes the word. Fixes matching no word change nothing."""
    out = [dict(w) for w in words]
    starts = [float(w["start_s"]) for w in out]
    dropped: set[int] = set()
    for at, text in fixes:
        nearest = min(range(len(starts)), key=lambda i: abs(starts[i] - at), default=None)
        if nearest is None or abs(starts[nearest] - at) > WORD_MATCH_S:
            continue
        if text.strip():
            out[nearest]["text"] = text.strip()
        else:
            dropped.add(nearest)
    return [w for i, w in enumerate(out) if i not in dropped]


def edited_file_stem(clip: Mapping[str, Any], edit: ClipEdit) -> str:
    """The new version's file name without extension: the clip's usual name with ``-v<version>``."""
    return f"{clip_stem(edit.index + 1, clip.get('title'))}-v{edit.version}"


def edited_entry(job_id: str, clip: Mapping[str, Any], edit: ClipEdit, edit_id: str,
                 rendered: Mapping[str, Any], job_aspect: str) -> dict[str, Any]:
    """The manifest entry of the clip's new version: the render's fields, the clip's score and title, and what
    the edit changed."""
    candidate = {**clip, "start_s": edit.start_s, "end_s": edit.end_s}
    entry = clip_entry(job_id, edit.index, candidate, dict(rendered))
    applied = [*clip.get("applied_edits", []), edit_id][-APPLIED_EDITS_KEPT:]
    entry.update(version=edit.version, edit_id=edit_id, layout_choice=edit.layout, applied_edits=applied)
    if edit.aspect != job_aspect:
        entry["aspect"] = edit.aspect
    if edit.caption_fixes:
        entry["caption_fixes"] = edit.fixes_json()
    return entry


def with_clip(manifest: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest with the clip of ``entry["id"]`` replaced by ``entry``, checked against its schema."""
    clips = [dict(entry) if c["id"] == entry["id"] else c for c in manifest["clips"]]
    return validate_manifest({**manifest, "clips": clips})
