"""Editor export: the job's clips as an OpenTimelineIO timeline over the source (and FCPXML when possible).

Each clip references the *source* media with its source range, so an editor can re-cut from the
original; the crop keyframes, score and reason travel in the clip's metadata under "streamapp".
"""

from __future__ import annotations

import contextlib
import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import opentimelineio as otio

from streamapp.fileio import temp_path_for, write_bytes_atomic

TIMELINE_NAME = "job.otio"
FCPXML_NAME = "job.fcpxml"
# The only frame rates the FCPXML adapter can write (its frameDuration table): with any other rate it raises,
# so NTSC sources (probed as 30000/1001 = 29.97002997...) and phones' variable rates got no FCPXML at all.
FCPXML_RATES = (23.98, 24.0, 25.0, 29.97, 30.0, 50.0, 59.94, 60.0)


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
            write_bytes_atomic(fcpxml, fcpxml_text(timeline).encode("utf-8"))
        except Exception:  # noqa: BLE001  (an optional extra: the OTIO file is the contract)
            with contextlib.suppress(FileNotFoundError):
                os.remove(fcpxml)
    return path


def fcpxml_rate(rate: float) -> float:
    """The adapter's rate for a source at ``rate``: the same rate (29.97002997 -> 29.97, 23.976 -> 23.98), else
    the smallest one that is a whole multiple of it (15 -> 30, 12.5 -> 25), else the nearest (a variable-rate
    phone clip averaging 29.6 -> 29.97); the frame grid an editor conforms the asset to."""
    for key in FCPXML_RATES:
        if abs(key / rate - 1.0) < 1e-3:
            return key
    for key in FCPXML_RATES:
        m = key / rate
        if m > 1.5 and abs(m - round(m)) < 1e-3 * m:
            return key
    return min(FCPXML_RATES, key=lambda k: abs(math.log(k / rate)))


def _retimed(timeline: otio.schema.Timeline, rate: float) -> otio.schema.Timeline:
    """A copy with every range counted at ``rate`` while meaning the same seconds: values become fractional
    (frames * rate / source rate), and the adapter writes value / rate as an exact fraction of a second, so
    times stay on the source's real frame grid (1001/1000 s, not 1000/999 s, for frame 30 at 29.97)."""
    out = timeline.deepcopy()

    def rescale(r: otio.opentime.TimeRange) -> otio.opentime.TimeRange:
        return otio.opentime.TimeRange(r.start_time.rescaled_to(rate), r.duration.rescaled_to(rate))

    for clip in out.find_clips():
        clip.source_range = rescale(clip.source_range)
        ref = clip.media_reference
        if ref is not None and ref.available_range is not None:
            ref.available_range = rescale(ref.available_range)
    return out


def fcpxml_text(timeline: otio.schema.Timeline) -> str:
    """FCPXML of a timeline from ``build_timeline``, written by the otio-fcpx-xml adapter with its slips fixed:
    the rate is one it knows (see ``fcpxml_rate``), and each sound clip (which the adapter connects to its
    picture clip at lane -1) sits exactly under its picture (the adapter truncates its offset to whole frames
    at an integer rate, up to a frame early)."""
    clips = list(timeline.find_clips())
    rate = clips[0].source_range.duration.rate if clips else 25.0
    text = otio.adapters.write_to_string(_retimed(timeline, fcpxml_rate(rate)), adapter_name="fcpx_xml")
    root = ET.fromstring(text)
    for parent in root.iter("clip"):
        for child in parent.findall("clip"):
            # Our sound clips cut exactly as the picture: a connected clip's offset is in its parent's
            # own time, which starts at the parent's start.
            if child.get("lane") is not None:
                child.set("offset", parent.get("start", "0s"))
    ET.indent(root, space="    ")
    header = '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n\n'
    return header + ET.tostring(root, encoding="unicode") + "\n"
