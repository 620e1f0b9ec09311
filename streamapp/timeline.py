"""Editor export: the job's clips as an OpenTimelineIO timeline over the source (and FCPXML when possible).

Each clip references the *source* media with its source range, so an editor can re-cut from the
original; the crop keyframes, score and reason travel in the clip's metadata under "streamapp".
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import opentimelineio as otio

from streamapp.fileio import temp_path_for

TIMELINE_NAME = "job.otio"
FCPXML_NAME = "job.fcpxml"


def build_timeline(
    source_path: str,
    source_fps: float,
    clips: Sequence[Mapping[str, Any]],
    aspect: str,
    name: str = "streamapp clips",
    source_duration_s: float | None = None,
    has_audio: bool = False,
) -> otio.schema.Timeline:
    """One video track with the clips in order (and, when the source has sound, an audio track of the same
    cuts, so editors get the sound and FCPXML says the asset has audio); times snap to the source's frame grid."""
    rate = float(source_fps) if source_fps and source_fps > 0 else 25.0
    # The media's extent (FCPXML needs it): the source duration, or at least up to the last clip's end.
    full = max([float(source_duration_s or 0.0)] + [float(c["end_s"]) for c in clips])
    available = otio.opentime.TimeRange(
        otio.opentime.RationalTime(0, rate), otio.opentime.RationalTime(round(full * rate), rate)
    )
    timeline = otio.schema.Timeline(name=name)
    timeline.metadata["streamapp"] = {"aspect": aspect, "source": str(source_path)}
    track = otio.schema.Track(name="clips", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    url = Path(source_path).resolve().as_uri()
    for clip in clips:
        start = otio.opentime.RationalTime(round(float(clip["start_s"]) * rate), rate)
        end = otio.opentime.RationalTime(round(float(clip["end_s"]) * rate), rate)
        item = otio.schema.Clip(
            name=str(clip.get("id", "")),
            media_reference=otio.schema.ExternalReference(target_url=url, available_range=available),
            source_range=otio.opentime.range_from_start_end_time(start, end),
        )
        item.metadata["streamapp"] = {
            "id": clip.get("id"),
            "score": clip.get("score"),
            "reason": clip.get("reason"),
            "file": clip.get("file"),
            "aspect": aspect,
            # Keyframes: t_s relative to the clip start, boxes in source pixels.
            "crop_path": [dict(k) for k in (clip.get("crop_path") or [])],
        }
        track.append(item)
    if has_audio:
        sound = otio.schema.Track(name="sound", kind=otio.schema.TrackKind.Audio)
        for item in track:
            sound.append(otio.schema.Clip(name=item.name, media_reference=item.media_reference.clone(),
                                          source_range=item.source_range))
        timeline.tracks.append(sound)
    return timeline


def _write_atomic(timeline: otio.schema.Timeline, path: str, adapter: str) -> None:
    tmp = temp_path_for(path)
    try:
        otio.adapters.write_to_file(timeline, tmp, adapter_name=adapter)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def write_timeline(
    job_dir: str,
    source_path: str,
    source_fps: float,
    clips: Sequence[Mapping[str, Any]],
    aspect: str,
    source_duration_s: float | None = None,
    has_audio: bool = False,
) -> str:
    """Write ``job_dir/job.otio`` (and ``job.fcpxml`` if the FCPXML adapter is installed); returns the OTIO path.

    ``clips``: dicts with start_s, end_s (source time), file, crop_path, id, score, reason.
    """
    os.makedirs(job_dir, exist_ok=True)
    timeline = build_timeline(source_path, source_fps, clips, aspect, source_duration_s=source_duration_s,
                              has_audio=has_audio)
    path = os.path.join(job_dir, TIMELINE_NAME)
    _write_atomic(timeline, path, "otio_json")
    fcpxml = os.path.join(job_dir, FCPXML_NAME)
    if "fcpx_xml" in otio.adapters.available_adapter_names():
        try:
            _write_atomic(timeline, fcpxml, "fcpx_xml")
        except Exception:  # noqa: BLE001  (an optional extra: the OTIO file is the contract)
            with contextlib.suppress(FileNotFoundError):
                os.remove(fcpxml)
    return path
