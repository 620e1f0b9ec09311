"""Validate an input file and read the facts later stages need (duration, size, fps, audio)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from streamapp.errors import InputError

_CHUNK = 1 << 20  # 1 MiB: hashing never holds more than this in memory.
_ATTACHED_PIC = 0x400  # AV_DISPOSITION_ATTACHED_PIC: cover art, not a real video track.
# FFmpeg turns almost anything into a "video": text through its tty demuxer (ANSI art, 0.28 s of it),
# a still image through image2 or a *_pipe demuxer. None of these is footage a clip can be cut from.
_NOT_VIDEO_FORMATS = frozenset({"tty", "image2", "bin", "xbin", "idf", "adf"})
_NOT_VIDEO_CODECS = frozenset({"ansi", "bintext", "xbin", "idf", "text"})


@dataclass(frozen=True)
class SourceInfo:
    """What a probe learns about a source video. Times are seconds."""

    path: str
    sha256: str
    duration_s: float
    width: int
    height: int
    fps: float
    has_audio: bool
    start_s: float
    sar: float = 1.0  # sample (pixel) aspect ratio; display width = width * sar


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def pick_video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The first video stream that is not embedded cover art."""
    for stream in container.streams.video:
        if not int(stream.disposition) & _ATTACHED_PIC:
            return stream
    return None


def stream_start_s(stream: av.stream.Stream) -> float:
    """Start time of a stream in seconds (0 when unknown)."""
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def stream_fps(stream: av.video.stream.VideoStream) -> float:
    """Average frame rate, falling back to the guessed or base rate; 0.0 when nothing is known."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return float(rate)
    return 0.0


def stream_sar(stream: av.video.stream.VideoStream) -> float:
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    if not sar or sar <= 0:
        return 1.0
    return float(sar)


def _demuxed_end_s(path: str, stream_index: int) -> float:
    """Latest packet end (pts + duration) of one stream, found by demuxing without decoding."""
    end = 0.0
    with av.open(path) as container:
        stream = container.streams[stream_index]
        tb: Fraction = stream.time_base
        start = stream_start_s(stream)
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            t = float((packet.pts + (packet.duration or 0)) * tb) - start
            end = max(end, t)
    return end


def _require_footage(container: av.container.InputContainer, video: av.video.stream.VideoStream, name: str) -> None:
    """Refuse text, ANSI art and still images that FFmpeg's demuxers would present as a video stream."""
    demuxer = container.format.name
    codec = video.codec_context.name
    if demuxer in _NOT_VIDEO_FORMATS or demuxer.endswith("_pipe") or codec in _NOT_VIDEO_CODECS:
        raise InputError(f"not a video: {name} is read as {demuxer}/{codec}", code="input_not_video")
    if demuxer == "gif" and (video.frames or 0) <= 1:
        raise InputError(f"not a video: {name} is a still image", code="input_not_video")


def probe(path: str | Path, hash_file: bool = True) -> SourceInfo:
    """Check that ``path`` is a readable video and describe it (``hash_file`` False: no SHA-256, which reads
    the whole file; ``sha256`` is then "").

    Raises InputError with code input_missing, input_empty, input_not_video or no_video_stream.
    """
    path = str(path)
    if not os.path.isfile(path):
        raise InputError(f"file not found: {os.path.basename(path)}", code="input_missing")
    if os.path.getsize(path) == 0:
        raise InputError(f"file is empty: {os.path.basename(path)}", code="input_empty")
    try:
        container = av.open(path)
    except (av.error.FFmpegError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(
            f"not a readable video: {os.path.basename(path)} ({type(exc).__name__})", code="input_not_video"
        ) from exc
    with container:
        video = pick_video_stream(container)
        if video is None:
            raise InputError(f"no video stream in {os.path.basename(path)}", code="no_video_stream")
        _require_footage(container, video, os.path.basename(path))
        has_audio = len(container.streams.audio) > 0
        start_s = stream_start_s(video)
        width = int(video.codec_context.width or video.width or 0)
        height = int(video.codec_context.height or video.height or 0)
        if width <= 0 or height <= 0:
            name = os.path.basename(path)
            raise InputError(f"video stream has no frame size: {name}", code="input_not_video")
        fps = stream_fps(video)
        sar = stream_sar(video)
        duration_s = 0.0
        # The stream's own duration matches what the frames cover; the container's is the next best.
        if video.duration is not None and video.time_base is not None:
            duration_s = float(video.duration * video.time_base)
        elif container.duration is not None:
            container_start = (container.start_time or 0) / av.time_base
            duration_s = container.duration / av.time_base - max(0.0, start_s - container_start)
        index = video.index
    if duration_s <= 0:
        duration_s = _demuxed_end_s(path, index)
    return SourceInfo(
        path=path,
        sha256=file_sha256(path) if hash_file else "",
        duration_s=duration_s,
        width=width,
        height=height,
        fps=fps,
        has_audio=has_audio,
        start_s=start_s,
        sar=sar,
    )
