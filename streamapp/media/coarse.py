"""Coarse-to-fine decode for analysis: reference frames first, every frame only where the picture changes.

Most of an H.264/HEVC file's frames are B-frames no other frame refers to; the decoder can skip them
(``skip_frame=NONREF``) for about half the decode time. A group of pictures (keyframe to keyframe) whose
reference frames all look alike, the next keyframe included, holds no cut and no dissolve: its skipped
frames are drawn in as linear blends of their decoded neighbours (at 64 px, what a B-frame between two
near-identical pictures looks like). A group where two neighbouring reference frames differ by more than
``ACTIVE_DIFF`` (a cut, a dissolve, fast motion) is decoded again in full from its keyframe, so every
boundary is found on its exact frame. Footage that changes all the time (most groups active) falls back to a
plain full decode (judged once per file, on its first groups: their packets, then if need be their
reference frames); a group too long to hold (a file with few keyframes) ends the coarse decode of its piece.

Frames come out as ``iter_video_frames`` gives them: display order, strictly increasing media times, one
face picture per ``face_every_s`` slot (from the slot's first decoded frame).
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise

import av
import numpy as np

from streamapp.kernels.frame_diff import frame_stats

log = logging.getLogger(__name__)

# Mean absolute difference (0-255 luma, 64-px pictures) between neighbouring decoded reference frames above
# which a group is decoded in full: well under a cut's (>= 10, DEFAULT_MIN_DIFF) and a dissolve's steps, above
# the compression noise of a still shot (0.2-1) and the slow drift of a talking head.
ACTIVE_DIFF = 3.0
# A group longer than this many frames is not held back: the rest of the piece is decoded in full.
MAX_GROUP_FRAMES = 600
# Whether a file is worth it is judged once, on its first groups (decode.coarse_worthwhile), so that every
# piece of it is decoded the same way whatever the number of cores: where over half of them change (a film cut
# every few seconds, keyframes at its cuts), the coarse pass would only add its own cost.
JUDGE_GROUPS = 6
MAX_ACTIVE_SHARE = 0.5
# Before decoding anything to judge, the first groups' packets can already say no (``packets_rule_out``): where
# predicted frames cost over this share of a keyframe's bytes on average, the picture changes all the time (a
# film's fast motion and cuts: 0.37-0.42 against 0.08-0.12 for talks and calm shots, however encoded). Judging
# such a file by decoding cost a third of its whole decode (the 1-minute film), only to decode it in full.
BUSY_BYTES_RATIO = 0.3
# Files shorter than this are decoded in full: the judging pass would cost more than the coarse pass saves.
MIN_DURATION_S = 30.0


@dataclass
class Decoded:
    """One decoded frame, reduced: its media time, its small grey picture and, when it was the first decoded
    frame of its face slot, the face picture."""

    t_s: float
    grey: np.ndarray
    face: np.ndarray | None = None
    still_diff: float = -1.0  # the change between decoded frames that says whether it stood still (blend())


def _diff(a: Decoded, b: Decoded) -> float:
    """Mean absolute difference of two decoded frames' pictures (a change of size counts as the largest)."""
    return float(frame_stats(a.grey, b.grey, a.grey)[0]) if a.grey.shape == b.grey.shape else 255.0


def active(decoded: list[Decoded], next_key: Decoded | None) -> bool:
    """Whether any two neighbouring decoded frames of a group (and its last one against the next keyframe)
    differ by more than ACTIVE_DIFF."""
    frames = [*decoded, next_key] if next_key is not None else decoded
    return any(_diff(before, after) > ACTIVE_DIFF for before, after in pairwise(frames))


def blend(times_s: list[float], decoded: list[Decoded], next_key: Decoded | None) -> list[Decoded]:
    """A frame for each of ``times_s`` (the group's frame times, sorted): a decoded frame where there is one,
    else the linear blend, by time, of the decoded frames either side (the next keyframe closes the group; at
    the end of the video the last decoded frame is repeated).

    Every frame carries ``still_diff``, the difference between decoded frames that says whether the picture
    stood still there: a blend's two neighbours, a decoded frame's previous decoded one in the group (the
    group's first has -1: its own difference decides, as it does where a piece of the file starts). Blends split
    a change over several frames, and a frame-to-frame difference would see a still shot's noise as a freeze."""
    anchors = [*decoded, next_key] if next_key is not None else list(decoded)
    at = {round(d.t_s, 6): i for i, d in enumerate(decoded)}
    out: list[Decoded] = []
    j = 0  # anchors[j] is the last anchor at or before t
    for t in times_s:
        i = at.get(round(t, 6))
        if i is not None:
            previous = decoded[i - 1] if i > 0 else None
            own = decoded[i]
            out.append(Decoded(own.t_s, own.grey, own.face, _diff(previous, own) if previous is not None else -1.0))
            continue
        while j + 1 < len(anchors) and anchors[j + 1].t_s <= t:
            j += 1
        left = anchors[j] if anchors[j].t_s <= t else None
        right = anchors[j + 1] if j + 1 < len(anchors) and anchors[j + 1].t_s > t else None
        if left is None or right is None or left.grey.shape != right.grey.shape:
            held = left or right or anchors[0]
            # At the end of the video the last decoded frame is held: whether it stood still is unknown, so
            # it is not called a freeze (the neighbours' difference is taken as large).
            out.append(Decoded(t, held.grey, None, 255.0))
            continue
        w = (t - left.t_s) / (right.t_s - left.t_s)
        mixed = left.grey.astype(np.float32) * (1.0 - w) + right.grey.astype(np.float32) * w
        out.append(Decoded(t, np.rint(mixed).astype(np.uint8), None, _diff(left, right)))
    return out


class GroupPlanner:
    """Splits a coarse decode into groups of pictures and says what to do with each (pure bookkeeping: the
    decoding is the caller's).

    Feed it the media time of every packet demuxed (``packet``; keyframes mark where groups start) and every
    frame the coarse decoder gives (``frame``); ``ready`` hands back finished groups as (start, stop, frame
    times, decoded frames, next keyframe's frame)."""

    def __init__(self) -> None:
        self.keys: list[float] = []  # keyframe times not yet behind a finished group, ascending
        self.times: list[float] = []  # display times of packets not yet in a finished group
        self.decoded: list[Decoded] = []
        self.groups = 0
        self.active_groups = 0  # groups decoded again in full
        self.blended = 0  # frames drawn in as blends

    def packet(self, t_s: float, is_keyframe: bool) -> None:
        if is_keyframe and (not self.keys or t_s > self.keys[-1]):
            self.keys.append(t_s)
        self.times.append(t_s)

    def frame(self, decoded: Decoded) -> None:
        """A frame the coarse decoder gave; one whose time does not advance is dropped (as the full decode does)."""
        if not self.decoded or decoded.t_s > self.decoded[-1].t_s:
            self.decoded.append(decoded)

    def _next_key_after(self, t_s: float) -> float | None:
        i = bisect.bisect_right(self.keys, t_s + 1e-9)
        return self.keys[i] if i < len(self.keys) else None

    def ready(self, final: bool = False) -> Iterator[tuple[float, float | None, list[float], list[Decoded],
                                                          Decoded | None]]:
        while self.decoded:
            start = self.decoded[0].t_s
            stop = self._next_key_after(start)
            inside = [d for d in self.decoded if stop is None or d.t_s < stop - 1e-9]
            if len(inside) == len(self.decoded) and not final:
                return  # the next keyframe's frame has not come out yet: the group may still grow
            rest = [d for d in self.decoded if stop is not None and d.t_s >= stop - 1e-9]
            next_key = rest[0] if rest and stop is not None and abs(rest[0].t_s - stop) < 1e-6 else None
            times = sorted(t for t in self.times if t >= start - 1e-9 and (stop is None or t < stop - 1e-9))
            self.times = [t for t in self.times if stop is not None and t >= stop - 1e-9]
            self.keys = [k for k in self.keys if stop is not None and k >= stop - 1e-9]
            self.decoded = rest
            self.groups += 1
            yield start, stop, times or [d.t_s for d in inside], inside, next_key

    def held(self) -> int:
        return len(self.decoded)


@dataclass(frozen=True)
class PacketInfo:
    """What the demuxer says of one packet, in decode order: no decoding needed."""

    t_s: float
    size: int
    is_keyframe: bool


def packets_rule_out(packets: list[PacketInfo]) -> str | None:
    """Why the packets of a file's first groups show that a coarse decode cannot pay (None: decode some to judge).
    Without reordering there are no B-frames, so nothing to skip (a stream encoded for low latency); where
    predicted frames are large against keyframes, most groups change and would be decoded twice."""
    keys = [p.size for p in packets if p.is_keyframe]
    predicted = [p.size for p in packets if not p.is_keyframe]
    if not keys or not predicted:
        return "every frame is a keyframe" if keys else "no keyframe"
    latest = -float("inf")
    reordered = False
    for packet in packets:
        reordered = reordered or packet.t_s < latest
        latest = max(latest, packet.t_s)
    if not reordered:
        return "no B-frames to skip"
    ratio = (sum(predicted) / len(predicted)) / (sum(keys) / len(keys))
    if ratio > BUSY_BYTES_RATIO:
        return f"predicted frames {ratio:.2f} of a keyframe's bytes: the picture changes all the time"
    return None


def skips_frames(stream: av.stream.Stream) -> bool:
    """Whether the codec can drop non-reference frames (H.264, HEVC, MPEG-2/4: B-frames)."""
    return stream.codec_context.name in ("h264", "hevc", "mpeg2video", "mpeg4", "mpeg1video")
