"""A cheap pre-pass over a clip's range: tiny luma per frame (shot cuts), faces and motion at ~5 fps.

It decodes the range once with threads and touches only the luma plane; detection runs on a
downscaled copy, so the pass costs a small fraction of the encode that follows.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import av
import cv2
import numpy as np

from streamapp.kernels.frame_diff import detect_cuts
from streamapp.media.decode import seek_before
from streamapp.media.probe import pick_video_stream, stream_start_s
from streamapp.reframe.borders import Area, picture_area, shifted
from streamapp.reframe.content import cut_penalty, salient_centre, text_box, thumbnail_worth
from streamapp.reframe.path import Sample
from streamapp.vision.faces import Face, detect_faces

_EPS = 1e-6
# Lips open and close a few times a second: frames ~0.1 s apart show a syllable's motion, where
# neighbouring frames (33-40 ms) barely differ.
_MOUTH_GAP_S = 0.1
_TINY_H = 64  # cut detection works on 64-px-high luma, as the extract stage does (its thresholds)
_DAMAGED = (av.error.InvalidDataError, av.error.FFmpegError, EOFError)
_PLANAR_8BIT = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21", "gray"}


@dataclass
class ClipAnalysis:
    """Samples and cuts in clip time (0 = the clip's first frame); boxes in the pixels of ``area``, the picture
    inside any black borders of the source frame (the whole frame without them)."""

    src_w: int
    src_h: int
    samples: list[Sample] = field(default_factory=list)
    cuts_s: list[float] = field(default_factory=list)
    sharpness: list[float] = field(default_factory=list)  # per sample: variance of the Laplacian
    worth: list[float] = field(default_factory=list)  # per sample: thumbnail worth, before any cut nearby
    area: Area | None = None  # None: the whole frame

    def picture(self) -> Area:
        return self.area or Area.whole(self.src_w, self.src_h)

    def best_thumbnail_t(self, duration_s: float, cuts_s: Sequence[float] | None = None) -> float:
        """The frame most worth showing small (a face or a sharp subject; never a transition, a blur or an
        empty frame), away from the clip's edges; the middle if nothing was sampled. ``cuts_s`` (clip
        time) default to the cuts this analysis found."""
        cuts = np.asarray(sorted(self.cuts_s if cuts_s is None else cuts_s), dtype=np.float64)
        best_t, best = duration_s / 2, -math.inf
        for s, worth in zip(self.samples, self.worth, strict=False):
            if not 0.1 * duration_s <= s.t <= 0.9 * duration_s:
                continue
            from_cut = float(np.min(np.abs(cuts - s.t))) if cuts.size else math.inf
            score = worth - cut_penalty(from_cut) - 0.5 * abs(s.t / duration_s - 0.5)
            if score > best:
                best_t, best = s.t, score
        return best_t


@dataclass
class _Pending:
    """A sampled frame (small grey) waiting for its face detection and for the frame after it."""

    t: float
    small: np.ndarray
    found: Future | None
    motion: tuple[float, float] | None
    after: np.ndarray | None = None

    def resolve(self, scale: float) -> tuple[Sample, float, float]:
        """The sample in source pixels, its thumbnail worth (cuts aside) and its sharpness."""
        faces = self.found.result() if self.found is not None else []
        mouth = tuple(mouth_motion(self.small, self.after, f) for f in faces) if self.after is not None else ()
        salient = text = None
        if not faces:  # what leads the camera when no face does
            centre = salient_centre(self.small)
            salient = None if centre is None else (centre[0] * scale, centre[1] * scale)
            box = text_box(self.small)
            text = None if box is None else tuple(v * scale for v in box)
        worth = thumbnail_worth(self.small, tuple(f.h for f in faces))
        sample = Sample(self.t, tuple(_scaled(f, scale) for f in faces), self.motion, mouth, salient, text)
        return sample, worth.score, worth.sharpness


def luma_view(frame: av.VideoFrame) -> np.ndarray:
    """The frame's 8-bit luma as a numpy view when possible (no conversion), else a converted copy."""
    if frame.format.name in _PLANAR_8BIT:
        plane = frame.planes[0]
        return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
    return frame.to_ndarray(format="gray")


def _shrink(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """INTER_AREA downscale to ``size`` (w, h), halving first while it can: OpenCV's exact-2x area path is
    many times faster than one large non-integer area step, and averages the same pixels."""
    while img.shape[1] >= 2 * size[0] + 2 and img.shape[0] >= 2 * size[1] + 2:
        img = cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)
    if (img.shape[1], img.shape[0]) == size:
        return img.copy()  # always a new array: the decoder reuses the frame's buffer
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def _scaled(f: Face, scale: float) -> Face:
    marks = tuple((x * scale, y * scale) for x, y in getattr(f, "landmarks", ()))
    extra = {"landmarks": marks} if marks else {}
    return replace(f, x=f.x * scale, y=f.y * scale, w=f.w * scale, h=f.h * scale, **extra)


def _mouth_box(f: Face) -> tuple[int, int, int, int]:
    """The mouth's region (x0, y0, x1, y1): around the mouth corners when the detector gives them, else
    the middle of the face box's lower third."""
    marks = getattr(f, "landmarks", ())
    if len(marks) >= 5:
        (rx, ry), (lx, ly) = marks[3], marks[4]
        x0, x1 = min(rx, lx) - 0.12 * f.w, max(rx, lx) + 0.12 * f.w
        my = (ry + ly) / 2
        return int(x0), int(my - 0.12 * f.h), int(x1), int(my + 0.16 * f.h)
    return int(f.x + 0.25 * f.w), int(f.y + 0.65 * f.h), int(f.x + 0.75 * f.w), int(f.y + 0.95 * f.h)


def mouth_motion(a: np.ndarray, b: np.ndarray, f: Face) -> float:
    """How much a face's mouth moved between two grey frames a few tens of ms apart, beyond the head.

    The mean change in the mouth region less half the change across the eyes: a nod or a camera move
    shifts both, talking moves the mouth most. (A full subtraction loses the speech: a talking head
    moves as it talks, measured on real talking heads.) ``f`` is in the frames' pixels.
    """
    h, w = a.shape[:2]

    def change(x0: int, y0: int, x1: int, y1: int) -> float:
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return 0.0
        return float(cv2.absdiff(a[y0:y1, x0:x1], b[y0:y1, x0:x1]).mean())

    eyes = change(int(f.x + 0.2 * f.w), int(f.y + 0.25 * f.h), int(f.x + 0.8 * f.w), int(f.y + 0.45 * f.h))
    return max(0.0, change(*_mouth_box(f)) - 0.5 * eyes)


def _motion_centre(prev: np.ndarray, cur: np.ndarray, scale: float) -> tuple[float, float] | None:
    """Centroid of the pixels that changed, in source pixels; None when (almost) nothing moved."""
    diff = cv2.absdiff(prev, cur)
    _, mask = cv2.threshold(diff, 18, 1, cv2.THRESH_BINARY)
    m = cv2.moments(mask, binaryImage=True)
    if m["m00"] < 0.005 * mask.size:  # a ticking timecode or a logo is not a subject
        return None
    return m["m10"] / m["m00"] * scale, m["m01"] / m["m00"] * scale


def analyze_clip(
    source: str,
    start_s: float,
    end_s: float,
    *,
    sample_fps: float = 5.0,
    detect_height: int = 240,
    faces: bool = True,
    cuts: bool = True,
) -> ClipAnalysis:
    """Sample [start_s, end_s) of ``source`` (media time): faces and motion at ``sample_fps``, cuts per frame."""
    # Face detection (YuNet and OpenCV release the GIL) runs on two worker threads, overlapping the decode.
    # 240 px: YuNet still finds faces a tenth of the frame high, at half the cost of 360 px (the render's
    # pre-pass must stay a small part of the render: bench/render_speed.py).
    with av.open(source) as src, ThreadPoolExecutor(max_workers=2) as pool:
        vin = pick_video_stream(src)
        if vin is None:
            return ClipAnalysis(0, 0)
        vin.thread_type = "AUTO"
        if not cuts:
            # Cuts come from the analysis: only ~5 samples a second are needed, so the decoder may skip
            # the frames nothing refers to (B-frames) and its deblocking filter, which halves its work.
            with contextlib.suppress(Exception):
                vin.codec_context.skip_frame = "NONREF"
                vin.codec_context.options = {"skip_loop_filter": "all"}
        origin = stream_start_s(vin)
        with contextlib.suppress(*_DAMAGED):
            seek_before(src, vin, start_s, origin)
        result: ClipAnalysis | None = None
        times: list[float] = []
        diffs: list[float] = []
        prev_tiny: np.ndarray | None = None
        prev_small: np.ndarray | None = None
        next_sample = 0.0
        scale = 1.0
        tiny_size = (1, 1)
        pending: list[_Pending] = []
        row_peak: np.ndarray | None = None  # the brightest each row (and column) of the samples was: borders
        col_peak: np.ndarray | None = None
        for packet in src.demux(vin):
            try:
                frames = packet.decode()
            except _DAMAGED:
                continue
            done = False
            for frame in frames:
                if frame.pts is None:
                    continue
                t = float(frame.pts * frame.time_base) - origin
                if t < start_s - _EPS:
                    continue
                if t >= end_s - _EPS:
                    done = True
                    break
                y = luma_view(frame)
                if result is None:
                    result = ClipAnalysis(y.shape[1], y.shape[0])
                    scale = max(1.0, y.shape[0] / detect_height)
                    tiny_size = (max(8, round(_TINY_H * y.shape[1] / y.shape[0])), _TINY_H)
                tc = t - start_s
                if pending and pending[-1].after is None and tc >= pending[-1].t + _MOUTH_GAP_S:
                    # A frame a moment after the sample: what the mouth did meanwhile.
                    pending[-1].after = _shrink(y, pending[-1].small.shape[::-1])
                if cuts:
                    tiny = _shrink(y, tiny_size)
                    times.append(tc)
                    diffs.append(0.0 if prev_tiny is None else float(cv2.absdiff(tiny, prev_tiny).mean()))
                    prev_tiny = tiny
                if tc + _EPS < next_sample:
                    continue
                next_sample = tc + 1.0 / sample_fps
                size = (max(16, int(round(y.shape[1] / scale))), max(16, int(round(y.shape[0] / scale))))
                small = _shrink(y, size)  # a new array: the face worker reads it after the frame is gone
                rows, cols = small.max(axis=1), small.max(axis=0)
                row_peak = rows if row_peak is None else np.maximum(row_peak, rows)
                col_peak = cols if col_peak is None else np.maximum(col_peak, cols)
                found = pool.submit(detect_faces, small) if faces else None
                motion = None if prev_small is None else _motion_centre(prev_small, small, scale)
                prev_small = small
                pending.append(_Pending(tc, small, found, motion))
            if done:
                break
        if result is not None:
            for item in pending:
                sample, worth, sharp = item.resolve(scale)
                result.samples.append(sample)
                result.worth.append(worth)
                result.sharpness.append(sharp)
    if result is None:
        return ClipAnalysis(0, 0)
    if row_peak is not None and col_peak is not None:
        area = picture_area(row_peak, col_peak, result.src_w, result.src_h)
        if area != Area.whole(result.src_w, result.src_h):
            result.area = area
            result.samples = [shifted(sample, area) for sample in result.samples]
    if cuts and len(times) > 2:
        result.cuts_s = [c for c in detect_cuts(np.array(times), np.array(diffs, dtype=np.float32)) if c > 0]
    return result
