"""Streaming decode helpers: small grey frames for analysis and mono audio blocks.

Everything here is a generator that holds one frame or block at a time, so memory stays flat
whatever the length of the video. Times are seconds from PTS * time_base, measured from the
start of the video stream ("media time"), so audio and video share one clock.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from streamapp.kernels.shrink import LUMA_PLANE_FORMATS, shrink_luma
from streamapp.media.coarse import (
    JUDGE_GROUPS,
    MAX_ACTIVE_SHARE,
    MAX_GROUP_FRAMES,
    MIN_DURATION_S,
    Decoded,
    GroupPlanner,
    PacketInfo,
    active,
    blend,
    packets_rule_out,
    skips_frames,
)
from streamapp.media.probe import pick_video_stream, stream_fps, stream_sar, stream_start_s

log = logging.getLogger(__name__)

# Errors that mean "this packet (or the rest of the file) is damaged", not "our code is wrong".
_DAMAGED = (av.error.InvalidDataError, av.error.FFmpegError, EOFError)
# Resampled audio whose PTS runs ahead of the running sample clock by more than this is a real gap.
_AUDIO_GAP_S = 0.1


def analysis_width(width: int, height: int, sar: float, out_height: int) -> int:
    """Width (even, >= 2) that keeps the display aspect (pixel aspect included) at ``out_height``."""
    display_aspect = width * (sar if sar > 0 else 1.0) / max(height, 1)
    return max(2, int(round(out_height * display_aspect / 2.0)) * 2)


def demux_safely(container: av.container.InputContainer, stream: av.stream.Stream) -> Iterator[av.Packet]:
    """Demux packets of one stream; a damaged or truncated container just ends the iteration."""
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except _DAMAGED as exc:
            log.warning("demux stopped early: %s", exc)
            return
        yield packet


def _decode_safely(packet: av.Packet) -> list:
    """Decode one packet; a corrupt packet yields nothing instead of ending the whole decode."""
    try:
        return packet.decode()
    except _DAMAGED as exc:
        log.debug("skipped corrupt packet at pts %s: %s", packet.pts, exc)
        return []


class AnalysisFrame(NamedTuple):
    """One decoded video frame, reduced for analysis."""

    t_s: float  # media time from PTS (seconds from the video stream's start)
    grey: np.ndarray  # uint8 (height, w): display orientation and aspect
    face_grey: np.ndarray | None  # uint8 (face_height, w'), only on face-sampling frames
    # In a coarse decode's calm group (media/coarse.blend): the change between decoded frames that says whether
    # the picture stood still there. -1: the frame's own difference to the previous one decides.
    still_diff: float = -1.0
    keyframe: bool = False  # the demuxer marks its packet as a keyframe (pieces of a file start at these)


def frame_rotation(frame: av.VideoFrame) -> int:
    """Counter-clockwise turn (0, 90, 180, 270) that shows the frame upright, as FFmpeg's autorotate does."""
    try:
        rot = int(round(float(frame.rotation or 0)))
    except (AttributeError, TypeError, ValueError):
        return 0
    return (int(round(rot / 90.0)) * 90) % 360


def _out_size(frame: av.VideoFrame, out_h: int, sar: float, rotation: int) -> tuple[int, int]:
    """(width, height) to scale the stored picture to, so that after ``rotation`` it is ``out_h`` high."""
    # Rotation by 90/270 swaps the axes: scale the stored picture to the transposed size, then turn it.
    swap = rotation in (90, 270)
    w, h = (frame.height, frame.width) if swap else (frame.width, frame.height)
    s = (1.0 / sar if sar > 0 else 1.0) if swap else sar
    out_w = analysis_width(w, h, s, out_h)
    return (out_h, out_w) if swap else (out_w, out_h)


def _finish(small: np.ndarray, rotation: int) -> np.ndarray:
    if rotation:
        small = np.rot90(small, k=rotation // 90)  # checked against ffmpeg autorotate output
    # Copy so the array owns its memory and never pins FFmpeg buffers.
    return np.ascontiguousarray(small, dtype=np.uint8).copy()


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _luma_plane(frame: av.VideoFrame) -> np.ndarray | None:
    """The Y plane as a (height, line_size) uint8 view, or None when the format has no 8-bit luma plane."""
    if frame.format.name not in LUMA_PLANE_FORMATS:
        return None
    plane = frame.planes[0]
    line = plane.line_size
    buf = np.frombuffer(plane, dtype=np.uint8)
    if line < frame.width or buf.size < line * frame.height:
        return None
    return buf[: line * frame.height].reshape(frame.height, line)


def _luma_is_limited(frame: av.VideoFrame) -> bool:
    # As swscale decides for format="gray": limited (TV) range unless the frame says full (JPEG) range.
    return not (frame.format.name.startswith("yuvj") or int(frame.color_range or 0) == 2)


class _Shrinker:
    """Frame -> small grey picture; area-averages the Y plane with a numba kernel when the pixel format
    allows (no swscale pass, no yuv->gray frame), else falls back to one reused swscale context."""

    def __init__(self, out_h: int, sar: float) -> None:
        self.out_h = out_h
        self.sar = sar
        self.reformatter = VideoReformatter()
        self.key: tuple | None = None
        self.size = (0, 0)

    def __call__(self, frame: av.VideoFrame, rotation: int) -> np.ndarray:
        key = (frame.width, frame.height, rotation)
        if key != self.key:  # sizes are worked out once per stream (or per mid-stream size change)
            self.key = key
            self.size = _out_size(frame, self.out_h, self.sar, rotation)
        rw, rh = self.size
        y = _luma_plane(frame)
        if y is None or rw > frame.width or rh > frame.height:
            small = self.reformatter.reformat(frame, rw, rh, format="gray", interpolation="AREA").to_ndarray()
            return _finish(small, rotation)
        small = np.empty((rh, rw), dtype=np.uint8)  # owns its memory: nothing pins the frame's buffer
        shrink_luma(y, frame.width, small, _luma_is_limited(frame))
        return np.ascontiguousarray(np.rot90(small, k=rotation // 90)) if rotation else small


def keyframe_starts(path: str | Path, parts: int, duration_s: float, min_part_s: float = 2.0) -> list[float]:
    """Start times (media time) of up to ``parts`` pieces of the video that can be decoded on their own:
    0.0, then the keyframe nearest each even split of ``duration_s`` (probe's). Pieces shorter than
    ``min_part_s`` are not worth their seek; a file that cannot seek by keyframe gives [0.0].
    """
    try:
        with av.open(str(path)) as container:
            stream = pick_video_stream(container)
            if stream is None or stream.time_base is None:
                return [0.0]
            parts = min(parts, int(duration_s // min_part_s))
            starts = [0.0]
            for i in range(1, max(1, parts)):
                t = _keyframe_near(container, stream, duration_s * i / parts)
                if t is None or t < starts[-1] + min_part_s:
                    continue  # seeking gave nothing usable or a piece too short: fewer pieces
                starts.append(t)
            return starts
    except _DAMAGED:
        return [0.0]


def _keyframe_near(container: av.container.InputContainer, stream: av.stream.Stream, t_s: float) -> float | None:
    """Media time of the keyframe nearest ``t_s`` (the one a backward seek lands on, or the next one when
    that is closer), or None when the seek is not to be trusted."""
    origin = stream_start_s(stream)
    tb = float(stream.time_base)
    container.seek(int((t_s + origin) / tb), stream=stream, backward=True, any_frame=False)
    before: float | None = None
    for packet in container.demux(stream):
        if packet.pts is None:
            return before
        t = packet.pts * tb - origin  # as iter_video_frames times frames
        if before is None:
            if not packet.is_keyframe or not 0.0 < t <= t_s + 1e-6:
                return None
            before = t
        elif t - t_s > t_s - before:
            return before  # anything further on is further away than the keyframe before
        elif packet.is_keyframe and t > t_s:
            return t
    return before


def seek_before(container: av.container.InputContainer, stream: av.stream.Stream, t_s: float,
                origin: float | None = None) -> None:
    """Seek so that decoding starts at a keyframe at or before media time ``t_s`` (as iter_video_frames times
    frames). A backward seek lands there in a file with an index (MP4, MKV); in MPEG-TS it can land on the next
    keyframe instead (FFmpeg looks for a TS position by reading timestamps near a byte guess), which started clips
    of live streams up to a group of pictures late. There the seek goes further back until the first keyframe it
    finds is not after ``t_s`` (or it reaches the start). ``origin``: the media time zero (default: the stream's
    own start; a clip's sound is timed from its picture's).

    A file that cannot seek by time (a SWF: "operation not permitted") is put back at its first byte, so that
    decoding starts from the beginning, and the error is raised: FFmpeg reads on while it looks for the time,
    and left where it gave up, the clip's frames were behind the reader (clip_empty)."""
    origin = stream_start_s(stream) if origin is None else origin
    try:
        _seek_keyframe_before(container, stream, t_s, origin)
    except _DAMAGED:
        container.seek(0, unsupported_byte_offset=True)
        raise


def _seek_keyframe_before(container: av.container.InputContainer, stream: av.stream.Stream, t_s: float,
                          origin: float) -> None:
    tb = float(stream.time_base)
    back = 0.0
    while True:
        target = max(0.0, t_s - back)
        container.seek(int((target + origin) / tb), stream=stream, backward=True, any_frame=False)
        first = _first_keyframe_s(container, stream, origin)
        if first is None or first <= t_s + 1e-6 or target == 0.0:
            container.seek(int((target + origin) / tb), stream=stream, backward=True, any_frame=False)
            return
        back = max(2.0 * back, 2.0)


def _first_keyframe_s(container: av.container.InputContainer, stream: av.stream.Stream, origin: float,
                      limit: int = 2000) -> float | None:
    for k, packet in enumerate(container.demux(stream)):
        if k >= limit:
            break
        if packet.pts is not None and packet.is_keyframe:
            return float(packet.pts * stream.time_base) - origin
    return None


def iter_video_frames(
    path: str | Path,
    height: int = 64,
    *,
    face_height: int = 0,
    face_every_s: float = 0.5,
    fast: bool = True,
    start_s: float = 0.0,
    stop_s: float | None = None,
    threads: int | None = None,
    coarse: bool = False,
) -> Iterator[AnalysisFrame]:
    """Stream every decodable frame as an AnalysisFrame; memory stays one frame whatever the length.

    ``face_height`` > 0 adds a larger grey picture to the first frame of every ``face_every_s`` seconds
    (for face detection).
    ``fast`` lets the decoder skip its in-loop deblocking filter: the picture is a little blockier but
    shrunk to 64 px that is invisible, and H.264/HEVC decode ~20-30 % faster. The small pictures are
    area averages of the decoder's own Y plane (kernels.shrink; ~2x cheaper than swscale's AREA pass,
    same values within a grey level). Times come from PTS (variable frame rate safe); frames whose time
    does not advance are dropped.
    ``coarse`` decodes reference frames first and every frame only where the picture changes (media/coarse.py);
    the frames of calm stretches are blends of their decoded neighbours. Memory then holds one group of pictures.

    ``start_s``/``stop_s`` decode one piece, [start_s, stop_s): a keyframe time from ``keyframe_starts``
    to start at, so that pieces decoded side by side join exactly. ``threads`` sets the decoder's
    thread count (default: one per core).
    """
    with _open_video(path, fast, threads) as (container, stream):
        if stream is None:
            return
        out = _Emitter(stream, height, face_height, face_every_s, start_s, stop_s)
        if coarse and skips_frames(stream) and stream.time_base is not None:
            yield from _coarse_frames(path, container, stream, out, fast)
            return
        if start_s > 0:
            out.seek(container, stream, start_s)
        for packet in demux_safely(container, stream):
            out.packet(packet)
            for frame in _decode_safely(packet):
                emitted = out.frame(frame)
                if emitted is _STOP:
                    return
                if emitted is not None:
                    yield emitted


_STOP = object()  # _Emitter's answer once a frame lies past the piece


def _until_stop(frames: Iterator[Any]) -> Iterator[AnalysisFrame]:
    """The frames up to the first _STOP."""
    for emitted in frames:
        if emitted is _STOP:
            return
        yield emitted


@contextlib.contextmanager
def _open_video(path: str | Path, fast: bool, threads: int | None) -> Iterator[tuple[Any, Any]]:
    """The container and its video stream (None when there is none), set up for analysis."""
    with av.open(str(path)) as container:
        stream = pick_video_stream(container)
        if stream is not None:
            # Frame + slice threading: the decoder is most of the cost of analysis. One thread per core
            # (FFmpeg's automatic count is cores + 1: on 2 cores the third thread only adds overhead).
            stream.thread_type = "AUTO"
            with contextlib.suppress(Exception):
                stream.codec_context.thread_count = threads or usable_cores()
            if fast:
                with contextlib.suppress(Exception):
                    stream.codec_context.options = {"skip_loop_filter": "all"}
        yield container, stream


class _Emitter:
    """Turns decoded frames of one piece into AnalysisFrames: media times from PTS, strictly increasing, inside
    [start_s, stop_s), small grey pictures, and a face picture on the first frame of each face slot."""

    def __init__(self, stream: Any, height: int, face_height: int, face_every_s: float, start_s: float,
                 stop_s: float | None) -> None:
        self.tb = float(stream.time_base) if stream.time_base is not None else 0.0  # floats: cheaper than Fraction
        self.origin = stream_start_s(stream)
        self.fps = stream_fps(stream) or 25.0
        sar = stream_sar(stream)
        # One shrinker per output size: sizes are worked out once, and the swscale fallback (formats
        # without an 8-bit luma plane) keeps one scaler context instead of building one per frame.
        self.small, self.face_fmt = _Shrinker(height, sar), _Shrinker(max(face_height, 1), sar)
        self.face_height, self.face_every_s = face_height, face_every_s
        self.start_s, self.stop_s = start_s, stop_s
        self.rotation: int | None = None
        self.last_t: float | None = None
        # A piece that starts inside a face slot leaves that slot to the piece before (it sampled the slot's
        # first frame), so pieces decoded apart sample the same frames as one pass.
        self.face_slot = math.ceil(start_s / face_every_s - 1e-9) - 1 if face_every_s > 0 else -1
        self.keys: set[float] = set()  # media times of keyframe packets demuxed so far

    def packet(self, packet: av.Packet) -> None:
        if packet.is_keyframe and packet.pts is not None:
            self.keys.add(round(packet.pts * self.tb - self.origin, 6))

    def seek(self, container: Any, stream: Any, t_s: float) -> None:
        """To the keyframe at or before ``t_s``."""
        # Rounded, not truncated: a target one tick before the keyframe would land on the one before.
        container.seek(round((t_s + self.origin) / self.tb), stream=stream, backward=True, any_frame=False)

    def time_of(self, frame: av.VideoFrame, after: float | None) -> float:
        # No timestamp at all: assume the nominal rate after the previous frame.
        if frame.pts is None:
            return 0.0 if after is None else after + 1.0 / self.fps
        return frame.pts * self.tb - self.origin

    def reduce(self, frame: av.VideoFrame) -> np.ndarray:
        if self.rotation is None:
            self.rotation = frame_rotation(frame)
        return self.small(frame, self.rotation)

    def face_picture(self, frame: av.VideoFrame) -> np.ndarray:
        if self.rotation is None:
            self.rotation = frame_rotation(frame)
        return self.face_fmt(frame, self.rotation)

    def new_face_slot(self, t_s: float, slot: int) -> bool:
        """Whether a frame at ``t_s`` opens a face slot after ``slot`` (a fixed grid of media time, so pieces
        decoded apart sample the same frames as one pass)."""
        return self.face_height > 0 and int(t_s // self.face_every_s) > slot

    def frame(self, frame: av.VideoFrame) -> Any:
        """The AnalysisFrame for a decoded frame, None to drop it, _STOP once past the piece."""
        t = self.time_of(frame, self.last_t)
        keep = self._placed(t)
        if keep is not True:
            return keep
        face = None
        if self.new_face_slot(t, self.face_slot):
            face = self.face_picture(frame)
            self.face_slot = int(t // self.face_every_s)
        return AnalysisFrame(t, self.reduce(frame), face, keyframe=round(t, 6) in self.keys)

    def reduced(self, t_s: float, grey: np.ndarray, face: np.ndarray | None, still_diff: float = -1.0) -> Any:
        """The AnalysisFrame for an already reduced frame (coarse decode), None to drop it, _STOP past the piece;
        its face picture is kept only when it opens a slot."""
        keep = self._placed(t_s)
        if keep is not True:
            return keep
        if face is not None and self.new_face_slot(t_s, self.face_slot):
            self.face_slot = int(t_s // self.face_every_s)
        else:
            face = None
        return AnalysisFrame(t_s, grey, face, still_diff, round(t_s, 6) in self.keys)

    def _placed(self, t: float) -> Any:
        if self.last_t is not None and t <= self.last_t:
            return None  # duplicate or out-of-order timestamp: keep the time line strictly increasing
        if t < self.start_s:
            return None  # leading pictures of an open GOP belong to the piece before
        if self.stop_s is not None and t >= self.stop_s:
            return _STOP  # frames come out in display order: the rest belong to the next piece
        self.last_t = t
        return True


def _coarse_frames(path: str | Path, container: Any, stream: Any, out: _Emitter, fast: bool
                   ) -> Iterator[AnalysisFrame]:
    """media/coarse.py's decode of one piece: reference frames through ``container``, groups that change decoded
    again in full through a second container opened on first need."""
    stream.codec_context.skip_frame = "NONREF"
    planner = GroupPlanner()
    fine = _FineDecoder(path, fast, out)
    coarse_slot = -1  # face slots among the coarse pass's own frames
    if out.start_s > 0:
        out.seek(container, stream, out.start_s)
    last: float | None = None
    try:
        for packet in demux_safely(container, stream):
            if packet.size == 0:  # the demuxer's closing empty packet: it flushes the decoder
                for frame in _decode_safely(packet):
                    t = last = out.time_of(frame, last)
                    planner.frame(Decoded(t, out.reduce(frame)))
                break
            if packet.pts is None:
                yield from fine.rest(planner.decoded[0].t_s if planner.decoded else out.start_s)
                return  # no packet times to place skipped frames on: decode in full
            planner.packet(packet.pts * out.tb - out.origin, packet.is_keyframe)
            out.packet(packet)
            for frame in _decode_safely(packet):
                t = out.time_of(frame, last)
                last = t
                face = None
                if out.new_face_slot(t, coarse_slot):
                    face, coarse_slot = out.face_picture(frame), int(t // out.face_every_s)
                planner.frame(Decoded(t, out.reduce(frame), face))
            for emitted in _finished_groups(planner, fine, out, final=False):
                if emitted is _STOP:
                    return  # the piece's end: the outer loop must stop too
                yield emitted
            if planner.held() > MAX_GROUP_FRAMES:
                yield from fine.rest(planner.decoded[0].t_s if planner.decoded else (last or out.start_s))
                return
        yield from _until_stop(_finished_groups(planner, fine, out, final=True))
    finally:
        fine.close()
        log.debug("coarse decode of [%.1f, %s): %d groups, %d decoded again in full, %d frames blended",
                  out.start_s, out.stop_s, planner.groups, planner.active_groups, planner.blended)


def coarse_worthwhile(path: str | Path, duration_s: float) -> bool:
    """Whether a coarse decode saves time on this file: long enough, its frames skippable, and at most half of
    its first JUDGE_GROUPS groups changing (judged on those groups' reference frames, a few seconds of work,
    unless their packets alone rule it out)."""
    if duration_s < MIN_DURATION_S:
        return False
    with _open_video(path, True, None) as (container, stream):
        if stream is None or stream.time_base is None or not skips_frames(stream):
            return False
        ruled_out = packets_rule_out(_first_groups(container, stream))
    if ruled_out:
        log.debug("%s decoded in full: %s", Path(path).name, ruled_out)
        return False
    with _open_video(path, True, None) as (container, stream):
        if stream is None or stream.time_base is None or not skips_frames(stream):
            return False
        stream.codec_context.skip_frame = "NONREF"
        out = _Emitter(stream, 64, 0, 1.0, 0.0, None)
        planner = GroupPlanner()
        last: float | None = None
        skipped = changing = 0
        keys: list[float] = []
        for packet in demux_safely(container, stream):
            if packet.size == 0:
                break  # the end of the file: judge on the groups seen
            if packet.pts is None:
                return False
            t = packet.pts * out.tb - out.origin
            planner.packet(t, packet.is_keyframe)
            keys += [t] if packet.is_keyframe else []
            for frame in _decode_safely(packet):
                last = out.time_of(frame, last)
                planner.frame(Decoded(last, out.reduce(frame)))
            for _, _, times, decoded, next_key in planner.ready():
                skipped += len(decoded) < len(times)
                changing += active(decoded, next_key)
            if planner.groups >= JUDGE_GROUPS or planner.held() > MAX_GROUP_FRAMES:
                break
        groups = max(planner.groups, 1)
        if not (skipped > 0 and changing <= MAX_ACTIVE_SHARE * groups):
            return False
        # Groups that change are decoded again from their keyframe: the container must land on it when asked
        # (MPEG-TS, for one, lands after it, and the group's frames would be lost).
        return len(keys) < 2 or _seeks_to_keyframes(container, stream, out, keys[1])


def _first_groups(container: Any, stream: Any) -> list[PacketInfo]:
    """The packets of the video's first JUDGE_GROUPS groups of pictures, demuxed only."""
    origin = stream_start_s(stream)
    packets: list[PacketInfo] = []
    keys = 0
    for packet in demux_safely(container, stream):
        if packet.size == 0 or packet.pts is None:
            continue
        keys += packet.is_keyframe
        if keys > JUDGE_GROUPS or len(packets) > JUDGE_GROUPS * MAX_GROUP_FRAMES:
            break
        packets.append(PacketInfo(float(packet.pts * stream.time_base) - origin, packet.size, packet.is_keyframe))
    return packets


def _seeks_to_keyframes(container: Any, stream: Any, out: _Emitter, key_s: float) -> bool:
    """Whether a seek to the keyframe at ``key_s`` lands on that keyframe's packet."""
    try:
        out.seek(container, stream, key_s)
        first = next(iter(demux_safely(container, stream)), None)
    except _DAMAGED:
        return False
    return bool(first is not None and first.is_keyframe and first.pts is not None
                and abs(first.pts * out.tb - out.origin - key_s) < 1e-6)


def _finished_groups(planner: GroupPlanner, fine: _FineDecoder, out: _Emitter, final: bool) -> Iterator[Any]:
    for start, stop, times, decoded, next_key in planner.ready(final):
        if out.stop_s is not None and start >= out.stop_s:
            yield _STOP  # a group of the next piece: nothing of it is ours
            return
        if len(decoded) < len(times) and active(decoded, next_key):
            planner.active_groups += 1
            yield from fine.group(start, stop)
            continue
        planner.blended += len(times) - len(decoded)
        for frame in blend(times, decoded, next_key) if len(decoded) < len(times) else decoded:
            emitted = out.reduced(frame.t_s, frame.grey, frame.face, frame.still_diff)
            if emitted is not None:
                yield emitted
                if emitted is _STOP:
                    return


class _FineDecoder:
    """Every frame of a stretch of the piece, for groups the coarse pass found changing: a container of its own,
    opened on first need, single-threaded like the pieces' decoders."""

    def __init__(self, path: str | Path, fast: bool, out: _Emitter) -> None:
        self.path, self.fast, self.out = path, fast, out
        self._closing = contextlib.ExitStack()
        self.container: Any = None
        self.stream: Any = None

    def _open(self) -> None:
        if self.container is None:
            self.container, self.stream = self._closing.enter_context(_open_video(self.path, self.fast, 1))

    def group(self, start_s: float, stop_s: float | None) -> Iterator[Any]:
        """Frames of [start_s, stop_s) decoded in full (from the keyframe at start_s)."""
        self._open()
        self.out.seek(self.container, self.stream, start_s)
        for packet in demux_safely(self.container, self.stream):
            self.out.packet(packet)
            for frame in _decode_safely(packet):
                t = self.out.time_of(frame, self.out.last_t)
                if t < start_s - 1e-9:
                    continue
                if stop_s is not None and t >= stop_s - 1e-9:
                    return
                emitted = self.out.frame(frame)
                if emitted is not None:
                    yield emitted
                    if emitted is _STOP:
                        return

    def rest(self, start_s: float) -> Iterator[AnalysisFrame]:
        """Every frame from the keyframe at or before ``start_s`` to the end of the piece."""
        return _until_stop(self.group(start_s, None))

    def close(self) -> None:
        self._closing.close()


def iter_analysis_frames(path: str | Path, height: int = 64) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(t_s, grey)`` for every decodable video frame, grey being uint8 of shape (height, w).

    ``t_s`` is relative to the video stream's start. Corrupt frames are skipped and a truncated
    file yields whatever decodes.
    """
    for f in iter_video_frames(path, height, fast=False):
        yield f.t_s, f.grey


def _media_origin_s(container: av.container.InputContainer) -> float:
    video = pick_video_stream(container)
    if video is not None:
        return stream_start_s(video)
    return stream_start_s(container.streams.audio[0]) if container.streams.audio else 0.0


def _iter_audio(
    path: str | Path, sample_rate: int, seek_s: float | None = None
) -> Iterator[tuple[float, np.ndarray]]:
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return
        stream = container.streams.audio[0]
        origin = _media_origin_s(container)
        if seek_s is not None and seek_s > 0:
            target = int((seek_s + origin) / stream.time_base)
            # If seeking fails, decode from the start instead; the caller trims by time.
            with contextlib.suppress(*_DAMAGED):
                container.seek(target, stream=stream, backward=True, any_frame=False)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        clock: float | None = None  # media time of the next sample we emit

        def emit(frames: list) -> Iterator[tuple[float, np.ndarray]]:
            nonlocal clock
            for out in frames:
                samples = out.to_ndarray().reshape(-1).astype(np.float32, copy=True)
                if samples.size == 0:
                    continue
                t_pts = None if out.pts is None else float(out.pts * out.time_base) - origin
                # The resampler's PTS jitters by a sample or so; trust the running count unless the
                # source really skipped ahead.
                if clock is None or (t_pts is not None and t_pts > clock + _AUDIO_GAP_S):
                    clock = t_pts if t_pts is not None else 0.0
                yield clock, samples
                clock += samples.size / sample_rate

        for packet in demux_safely(container, stream):
            for frame in _decode_safely(packet):
                try:
                    outs = resampler.resample(frame)
                except _DAMAGED:
                    continue
                yield from emit(outs)
        with contextlib.suppress(*_DAMAGED):
            yield from emit(resampler.resample(None))


def iter_audio_blocks(path: str | Path, sample_rate: int = 16000) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(t_s, samples)``: mono float32 blocks at ``sample_rate``, ``t_s`` in media time.

    Yields nothing when the file has no audio stream.
    """
    yield from _iter_audio(path, sample_rate)


def read_audio_mono(
    path: str | Path, sample_rate: int = 16000, start_s: float = 0.0, end_s: float | None = None
) -> np.ndarray:
    """Mono float32 samples covering [start_s, end_s) of media time (empty when there is no audio)."""
    parts: list[np.ndarray] = []
    first = int(round(start_s * sample_rate))
    last = None if end_s is None else int(round(end_s * sample_rate))
    for t, block in _iter_audio(path, sample_rate, seek_s=start_s):
        b0 = int(round(t * sample_rate))
        b1 = b0 + block.size
        if last is not None and b0 >= last:
            break
        lo = max(first, b0) - b0
        hi = block.size if last is None else min(last, b1) - b0
        if hi > lo:
            parts.append(block[lo:hi])
    if not parts:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(parts)
