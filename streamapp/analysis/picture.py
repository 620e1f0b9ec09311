"""Streaming picture analysis: per-frame change statistics, shot boundaries, black/frozen spans, faces.

Frames arrive one at a time (see media.decode.iter_video_frames); only a ring of the last ``k`` small
frames is kept, so memory does not grow with the video.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from streamapp.kernels.frame_diff import (
    BLACK_MEAN,
    BLACK_STD,
    FROZEN_DIFF,
    detect_cuts,
    detect_gradual,
    frame_stats,
    merge_boundaries,
    spans_where,
)

GRADUAL_SPAN_S = 0.6  # the k-frame difference spans this long: the length of a typical dissolve
# A face sample whose 64-px picture differs from the last detected one by less than this (mean abs, 0-255) takes
# that detection's result instead of running the detector again: a still camera on a talk changes less. The
# chain restarts at every keyframe, where pieces of a file decoded side by side start, so they agree with one pass.
FACE_REUSE_DIFF = 1.0


@dataclass
class PictureSignals:
    """Per-frame arrays and the events found in them (times in seconds of media time)."""

    times_s: np.ndarray
    motion: np.ndarray  # mean abs luma diff to the previous (decoded) frame (0..255 scale)
    span_diff: np.ndarray  # mean abs luma diff to the frame k back
    brightness: np.ndarray  # mean luma
    cuts_s: list[float]  # all shot boundaries (hard and gradual), sorted
    gradual_s: list[float]  # the gradual ones (middle of a dissolve or fade)
    black: list[tuple[float, float]]
    frozen: list[tuple[float, float]]
    face_times_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    faces: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16))  # faces per sample
    face_area: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))  # largest, of frame


class PictureAnalyzer:
    """Feed frames with ``add``; ``finish`` turns the collected statistics into PictureSignals."""

    def __init__(self, fps_hint: float, detect_faces: bool = True) -> None:
        fps = fps_hint if fps_hint > 0 else 25.0
        self.k = max(2, int(round(GRADUAL_SPAN_S * fps)))
        self.ring: list[np.ndarray] = []  # the last k frames, oldest first
        self.head: list[np.ndarray] = []  # the first k frames: a piece analysed apart is joined with them
        self.times: list[float] = []
        self.d1: list[float] = []
        self.dk: list[float] = []
        self.mean: list[float] = []
        self.std: list[float] = []
        # Per frame, what says whether the picture stood still: -1 where its own d1 decides, else the change
        # between decoded frames around it in a coarse decode's calm group (media/coarse.blend).
        self.still: list[float] = []
        self.detect_faces = detect_faces
        self.face_t: list[float] = []
        self.face_n: list[int] = []
        self.face_a: list[float] = []
        self._face_anchor: tuple[np.ndarray, int, float] | None = None  # last detection: 64-px picture, count, area

    def add(self, t_s: float, grey: np.ndarray, face_grey: np.ndarray | None = None, still_diff: float = -1.0,
            keyframe: bool = False) -> None:
        prev = self.ring[-1] if self.ring else grey
        older = self.ring[0] if self.ring else grey
        if prev.shape != grey.shape:  # mid-stream size change: restart the comparison
            self.ring.clear()
            prev = older = grey
        d1, dk, m, s = frame_stats(prev, grey, older)
        self.times.append(t_s)
        self.d1.append(d1 if self.ring else 0.0)
        self.dk.append(dk if len(self.ring) >= self.k else 0.0)
        self.mean.append(m)
        self.std.append(s)
        self.still.append(still_diff)
        self.ring.append(grey)
        if len(self.ring) > self.k:
            self.ring.pop(0)
        if len(self.head) < self.k:
            self.head.append(grey)
        if keyframe:
            self._face_anchor = None
        if face_grey is not None and self.detect_faces:
            self._faces(t_s, face_grey, grey)

    def extend(self, after: PictureAnalyzer) -> None:
        """Append what ``after`` analysed: the piece of video that follows ours, analysed apart.

        Its first k frames had no history; their differences are recomputed against our last frames,
        so the joined statistics equal those of one pass over the whole video.
        """
        history = len(self.ring)
        frames = self.ring + after.head
        for j in range(len(after.head)):
            i = history + j  # index of after's frame j in ``frames``
            n = len(self.times) + j  # and in the whole video
            cur, prev = frames[i], frames[i - 1] if i > 0 else frames[i]
            if prev.shape != cur.shape:
                continue  # a size change restarts the comparison, as in ``add``: keep after's own values
            older = frames[i - self.k] if i >= self.k else frames[0]
            d1, dk, _, _ = frame_stats(prev, cur, older)
            after.d1[j] = d1 if n > 0 else 0.0
            after.dk[j] = dk if n >= self.k and i >= self.k else 0.0
        self.times += after.times
        self.d1 += after.d1
        self.dk += after.dk
        self.mean += after.mean
        self.std += after.std
        self.still += after.still
        self.head = (self.head + after.head)[: self.k]
        self.ring = (self.ring + after.ring)[-self.k:]
        self.face_t += after.face_t
        self.face_n += after.face_n
        self.face_a += after.face_a

    def _faces(self, t_s: float, face_grey: np.ndarray, grey: np.ndarray) -> None:
        from streamapp.vision.faces import detect_faces

        anchor = self._face_anchor
        if anchor is not None and anchor[0].shape == grey.shape and \
                frame_stats(anchor[0], grey, anchor[0])[0] < FACE_REUSE_DIFF:
            count, share = anchor[1], anchor[2]
        else:
            try:
                found = detect_faces(face_grey, min_size_frac=0.1)
            except Exception:  # a detector failure must not sink the analysis; record "unknown" as none
                found = []
            area = face_grey.shape[0] * face_grey.shape[1]
            count, share = len(found), (found[0].area / area if found and area else 0.0)
            self._face_anchor = (grey, count, share)
        self.face_t.append(t_s)
        self.face_n.append(count)
        self.face_a.append(share)

    def finish(
        self, cut_min_diff: float, cut_ratio: float, min_shot_s: float, fps: float
    ) -> PictureSignals:
        t = np.asarray(self.times, dtype=np.float64)
        d1 = np.asarray(self.d1, dtype=np.float32)
        dk = np.asarray(self.dk, dtype=np.float32)
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        hard = detect_cuts(t, d1, cut_min_diff, cut_ratio, min_shot_s=min_shot_s)
        gradual = detect_gradual(t, d1, dk, self.k)
        cuts, gradual_kept = merge_boundaries(hard, gradual, min_gap_s=max(min_shot_s, GRADUAL_SPAN_S))
        frame_s = 1.0 / fps if fps > 0 else 0.04
        black_mask = (mean < BLACK_MEAN) & (std < BLACK_STD)
        # Motion between decoded frames: in a coarse decode's calm stretch, the difference between the decoded
        # frames around each blended one (a blend splits that change over its steps, while a still shot's
        # compression noise, most of what moves there, does not shrink with fewer steps).
        still = np.asarray(self.still, dtype=np.float32)
        motion = np.where(still < 0, d1, still).astype(np.float32)
        frozen_mask = (motion < FROZEN_DIFF) & ~black_mask
        if frozen_mask.size:
            frozen_mask[0] = False
        return PictureSignals(
            times_s=t,
            motion=motion,
            span_diff=dk,
            brightness=mean,
            cuts_s=cuts,
            gradual_s=gradual_kept,
            black=spans_where(t, black_mask, 0.1, frame_s),
            frozen=spans_where(t, frozen_mask, 1.0, frame_s),
            face_times_s=np.asarray(self.face_t, dtype=np.float64),
            faces=np.asarray(self.face_n, dtype=np.int16),
            face_area=np.asarray(self.face_a, dtype=np.float32),
        )
