"""Camera planning: from sampled face/motion detections to a smooth crop path, shot by shot.

Each shot gets one layout:
- ``tracking``: one subject, a crop that follows it (dead zone, eased and speed-capped pans);
- ``active_speaker``: two people, one crop that cuts to whoever speaks (mouth motion while the sound
  is voiced, with hysteresis: ``streamapp.reframe.speaker``);
- ``split``: two people on screen together for more than 3 s who trade words too quickly to follow
  (or with nothing telling who speaks): two panels stacked, one face each;
- ``fit``: three or more people, or a title card wider than the crop: the whole frame over a blur;
- ``still``: one fixed crop (a subject that stays put, two people who fit one crop, or nothing to follow).

A clip's editor may ask for one framing instead (``CLIP_LAYOUTS``): ``crop`` keeps every shot a crop that
follows someone (the most prominent person where the planner would fit or split), ``fit`` shows the whole
frame throughout (``fit_plan``); ``auto`` is the planner's choice per shot.

The path is a list of camera *points* per shot (per panel for split). Between two points with the
same position the camera holds; between two different ones it pans with an ease-in/out curve; two
points at one instant are a cut of the crop. The planner only adds a point where the camera starts
or stops moving, so the points double as editor keyframes.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from streamapp.reframe.speaker import agreement, speaking_scores, talk_shares, turns, voiced_at
from streamapp.vision.faces import Face

LAYOUTS = ("tracking", "active_speaker", "split", "fit", "still")
CLIP_LAYOUTS = ("auto", "crop", "fit")  # what an edit may ask for (schemas: clip_layout)
Box = tuple[float, float, float, float]
Point = tuple[float, float, float]  # (t, cx, cy)


@dataclass(frozen=True)
class Sample:
    """What the analysis saw at clip time ``t`` (s), in source pixels: faces, a motion centre, and for
    shots without faces the salient centre and a title card's text box. ``mouth`` is each face's mouth
    motion (aligned with ``faces``; empty when not measured)."""

    t: float
    faces: tuple[Face, ...] = ()
    motion: tuple[float, float] | None = None
    mouth: tuple[float, ...] = ()
    salient: tuple[float, float] | None = None
    text: Box | None = None


@dataclass(frozen=True)
class Placement:
    """One crop of the source and where it lands in the output frame (both even, in pixels)."""

    src: tuple[int, int, int, int]
    dst: tuple[int, int, int, int]


@dataclass(frozen=True)
class PlanParams:
    dead_zone: float = 0.25  # fraction of the crop size inside which the subject may move freely
    max_speed: float = 0.6  # crop widths (or heights) per second, at the fastest point of a pan
    min_pan_s: float = 0.35
    lookahead_s: float = 0.8  # the pan target is where the subject settles over this window
    min_support: float = 0.3  # a face track must be seen in this share of a shot's samples
    fit_second_area: float = 0.35  # a second face this large (vs. the first) counts as a person
    headroom: float = 0.1  # faces sit this fraction of the crop height above its centre
    split_min_s: float = 3.0  # two faces on screen together at least this long before a split is allowed
    turn_hold_s: float = 1.0  # the other person must lead this long before the crop cuts to them
    panel_face_room: float = 2.6  # a split panel's crop is this many face heights tall
    # Active speaker only when the cut turns show the face whose mouth moves on this share of the voiced samples
    # (composed calls: 2-5 s turns score 0.95-1.0, 1.5 s turns 0.74-0.83, 1 s turns 0.46-0.57).
    follow_agreement: float = 0.9
    # ...and cuts come no oftener than once per this many seconds on average: each cut lands up to one sample
    # (~0.28 s) after the voice, so 2 s turns showed the speaker 93.6-95.2 % of the time, 3 s turns 96-97 %.
    min_turn_s: float = 2.5


@dataclass
class ShotPlan:
    start_s: float
    end_s: float
    layout: str
    points: list[Point] = field(default_factory=list)  # (t, cx, cy), t ascending
    panels: list[list[Point]] = field(default_factory=list)  # split: each panel's points, top first


def _interpolate(pts: Sequence[Point], t: float) -> tuple[float, float]:
    if t <= pts[0][0]:
        return pts[0][1], pts[0][2]
    for (t0, x0, y0), (t1, x1, y1) in zip(pts, pts[1:], strict=False):
        if t < t1:
            k = _smoothstep((t - t0) / (t1 - t0)) if t1 > t0 else 1.0
            return x0 + (x1 - x0) * k, y0 + (y1 - y0) * k
    return pts[-1][1], pts[-1][2]


def _even_box(cx: float, cy: float, w: int, h: int, src_w: int, src_h: int) -> tuple[int, int, int, int]:
    x = int(round((cx - w / 2) / 2)) * 2
    y = int(round((cy - h / 2) / 2)) * 2
    return min(max(0, x), src_w - w), min(max(0, y), src_h - h), w, h


def _path_keyframes(pts: Sequence[Point], start: float, last: float,
                    box: Callable[[float, float], tuple[int, int, int, int]], frame_s: float) -> list[dict]:
    """Keyframes of one point path over [start, last]: its ends, pan starts/ends, and both sides of a crop cut."""
    out: list[dict] = []

    def add(t: float, cx: float, cy: float) -> None:
        x, y, w, h = box(cx, cy)
        item = {"t_s": round(t, 3), "x": x, "y": y, "w": w, "h": h}
        if out and out[-1]["t_s"] >= item["t_s"]:
            out[-1] = item  # same instant (a one-frame shot): the later box wins
        else:
            out.append(item)

    add(start, *_interpolate(pts, start))
    for i, (t, cx, cy) in enumerate(pts):
        if not start < t < last:
            continue
        if i > 0 and pts[i - 1][0] == t:  # a cut of the crop: hold the old box to the frame before
            add(max(start, t - frame_s), pts[i - 1][1], pts[i - 1][2])
        add(t, cx, cy)
    add(last, *_interpolate(pts, last))
    return out


def _smoothstep(u: float) -> float:
    u = min(1.0, max(0.0, u))
    return u * u * (3.0 - 2.0 * u)


@dataclass
class CameraPlan:
    """A framing plan over a clip: ``placements_at(t)`` for rendering, ``keyframes()``/``panels()`` for export.

    Boxes are in source pixels; ``out_w`` x ``out_h`` is the output frame (split panels share it).
    ``face_track`` keeps what was seen, so faces can be mapped into the output (captions stay off them).
    """

    src_w: int
    src_h: int
    crop_w: int
    crop_h: int
    duration_s: float
    shots: list[ShotPlan]
    out_w: int = 0
    out_h: int = 0
    panel_w: int = 0  # split panels' crop size in source pixels
    panel_h: int = 0
    face_track: list[tuple[float, tuple[Face, ...]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.out_w = self.out_w or self.crop_w
        self.out_h = self.out_h or self.crop_h

    @property
    def layout(self) -> str:
        """The layout that covers most of the clip."""
        spans: dict[str, float] = {}
        for s in self.shots:
            spans[s.layout] = spans.get(s.layout, 0.0) + (s.end_s - s.start_s)
        return max(spans, key=lambda k: spans[k]) if spans else "still"

    def shot_at(self, t: float) -> ShotPlan:
        for s in self.shots:
            if t < s.end_s:
                return s
        return self.shots[-1]

    def center_at(self, t: float) -> tuple[float, float]:
        return _interpolate(self.shot_at(t).points, t)

    def _crop(self, cx: float, cy: float) -> tuple[int, int, int, int]:
        return _even_box(cx, cy, self.crop_w, self.crop_h, self.src_w, self.src_h)

    def _panel(self, cx: float, cy: float) -> tuple[int, int, int, int]:
        return _even_box(cx, cy, self.panel_w, self.panel_h, self.src_w, self.src_h)

    def _whole(self) -> tuple[int, int, int, int]:
        return 0, 0, self.src_w - self.src_w % 2, self.src_h - self.src_h % 2

    def box_at(self, t: float) -> tuple[int, int, int, int]:
        """The crop ``(x, y, w, h)`` in source pixels at clip time ``t`` (split: the top panel's; fit: the frame)."""
        shot = self.shot_at(t)
        if shot.layout == "fit":
            return self._whole()
        if shot.layout == "split":
            return self._panel(*_interpolate(shot.panels[0], t))
        return self._crop(*self.center_at(t))

    def panel_rects(self) -> list[tuple[int, int, int, int]]:
        """The split panels' rectangles in the output frame: top half, bottom half (even)."""
        top = self.out_h // 2 // 2 * 2
        return [(0, 0, self.out_w, top), (0, top, self.out_w, self.out_h - top)]

    def placements_at(self, t: float) -> list[Placement]:
        """What to crop and where it goes at clip time ``t``: [] for fit, two panels for split, else one."""
        shot = self.shot_at(t)
        if shot.layout == "fit":
            return []
        if shot.layout == "split":
            return [Placement(self._panel(*_interpolate(pts, t)), rect)
                    for pts, rect in zip(shot.panels, self.panel_rects(), strict=True)]
        return [Placement(self.box_at(t), (0, 0, self.out_w, self.out_h))]

    def faces_at(self, t: float) -> tuple[Face, ...]:
        """The faces of the sample nearest ``t`` (within half a second) in ``t``'s own shot, source pixels: a
        face seen just before a cut is not on the picture after it (captions placed once per shot kept clear
        of such a face for a whole 14 s shot of a plain picture)."""
        if not self.face_track:
            return ()
        shot = self.shot_at(t)
        times = [s for s, _ in self.face_track]
        i = bisect.bisect_left(times, t)
        same_shot = [j for j in (i - 1, i) if 0 <= j < len(times) and self.shot_at(times[j]) is shot]
        if not same_shot:
            return ()
        near = min(same_shot, key=lambda j: abs(times[j] - t))
        return self.face_track[near][1] if abs(times[near] - t) <= 0.5 else ()

    def output_faces_at(self, t: float) -> list[Box]:
        """Face boxes as they appear in the output frame at ``t`` (for captions to keep clear of)."""
        faces = self.faces_at(t)
        if self.shot_at(t).layout == "fit":
            scale = min(self.out_w / self.src_w, self.out_h / self.src_h)
            ox, oy = (self.out_w - self.src_w * scale) / 2, (self.out_h - self.src_h * scale) / 2
            return [(ox + f.x * scale, oy + f.y * scale, f.w * scale, f.h * scale) for f in faces]
        out: list[Box] = []
        for p in self.placements_at(t):
            sx, sy, sw, sh = p.src
            dx, dy, dw, dh = p.dst
            kx, ky = dw / sw, dh / sh
            for f in faces:
                cx, cy = f.center
                if sx <= cx < sx + sw and sy <= cy < sy + sh:
                    x0, y0 = max(f.x, sx), max(f.y, sy)
                    x1, y1 = min(f.x + f.w, sx + sw), min(f.y + f.h, sy + sh)
                    out.append((dx + (x0 - sx) * kx, dy + (y0 - sy) * ky, (x1 - x0) * kx, (y1 - y0) * ky))
        return out

    def keyframes(self, frame_s: float = 0.0) -> list[dict[str, float]]:
        """Crop boxes where the path changes, over the single-crop and fit shots (clip time, source px).

        Linear interpolation between them reproduces the path up to the pans' easing. ``frame_s`` puts a
        shot's closing keyframe (and the box before a crop cut) on its last frame rather than on the cut.
        """
        out: list[dict[str, float]] = []
        for shot in self.shots:
            if shot.layout == "split":
                continue
            last = max(shot.start_s, shot.end_s - frame_s)
            if shot.layout == "fit":
                x, y, w, h = self._whole()
                pts: list[Point] = [(shot.start_s, x + w / 2, y + h / 2)]
                keys = _path_keyframes(pts, shot.start_s, last, lambda cx, cy: self._whole(), frame_s)
            else:
                keys = _path_keyframes(shot.points, shot.start_s, last, self._crop, frame_s)
            for item in keys:
                if out and out[-1]["t_s"] >= item["t_s"]:
                    out[-1] = item
                else:
                    out.append(item)
        return out

    def panels(self, frame_s: float = 0.0) -> list[dict]:
        """The split panels: each one's crop keyframes over the split shots and its rectangle in the output."""
        split = [s for s in self.shots if s.layout == "split"]
        if not split:
            return []
        out = []
        for i, (x, y, w, h) in enumerate(self.panel_rects()):
            path: list[dict] = []
            for shot in split:
                last = max(shot.start_s, shot.end_s - frame_s)
                path.extend(_path_keyframes(shot.panels[i], shot.start_s, last, self._panel, frame_s))
            out.append({"crop_path": path, "x": x, "y": y, "w": w, "h": h})
        return out


def shot_ranges(duration_s: float, cuts_s: Sequence[float], min_shot_s: float = 0.2) -> list[tuple[float, float]]:
    """Split [0, duration) at the cuts (clip time); cuts too near an edge or each other are dropped."""
    edges = [0.0]
    for c in sorted(cuts_s):
        if min_shot_s <= c <= duration_s - min_shot_s and c - edges[-1] >= min_shot_s:
            edges.append(float(c))
    edges.append(float(duration_s))
    return list(zip(edges, edges[1:], strict=False))


TrackEntry = tuple[float, Face, float]  # (t, face, mouth motion or NaN)


def _tracks(samples: Sequence[Sample]) -> list[list[TrackEntry]]:
    """Greedy face tracks: a face joins the track whose last box is nearest, if close enough."""
    tracks: list[list[TrackEntry]] = []
    for s in samples:
        taken: set[int] = set()
        for k, f in enumerate(s.faces):
            mouth = float(s.mouth[k]) if k < len(s.mouth) else math.nan
            best, best_d = -1, math.inf
            for i, tr in enumerate(tracks):
                if i in taken or s.t - tr[-1][0] > 3.0:
                    continue
                g = tr[-1][1]
                d = math.dist(f.center, g.center)
                if d < 0.6 * max(f.w, g.w) and 0.5 < f.w / g.w < 2.0 and d < best_d:
                    best, best_d = i, d
            if best < 0:
                tracks.append([(s.t, f, mouth)])
                taken.add(len(tracks) - 1)
            else:
                tracks[best].append((s.t, f, mouth))
                taken.add(best)
    return tracks


def _series(track: list[TrackEntry], times: Sequence[float]) -> np.ndarray:
    """The track's box (x, y, w, h) at each time: held at the nearest sample where it was not seen."""
    tt = np.array([t for t, _, _ in track])
    boxes = np.array([(f.x, f.y, f.w, f.h) for _, f, _ in track], dtype=np.float64)
    idx = np.clip(np.searchsorted(tt, times), 0, len(tt) - 1)
    prev = np.clip(idx - 1, 0, len(tt) - 1)
    use_prev = np.abs(tt[prev] - np.asarray(times)) < np.abs(tt[idx] - np.asarray(times))
    return boxes[np.where(use_prev, prev, idx)]


def _mouths(track: list[TrackEntry], times: Sequence[float]) -> np.ndarray:
    """The track's mouth motion at each sample time; NaN where the face was not seen then."""
    seen = {round(t, 6): m for t, _, m in track}
    return np.array([seen.get(round(t, 6), math.nan) for t in times], dtype=np.float64)


@dataclass
class _Person:
    track: list[TrackEntry]
    boxes: np.ndarray  # (n, 4) at the shot's sample times


class _Planner:
    def __init__(self, src_w: int, src_h: int, crop_w: int, crop_h: int, p: PlanParams,
                 speech_db: np.ndarray | None, hop_s: float, panel: tuple[int, int], crop_only: bool = False) -> None:
        self.src_w, self.src_h, self.crop_w, self.crop_h, self.p = src_w, src_h, crop_w, crop_h, p
        self.crop_only = crop_only  # the "crop" layout: never fit nor split
        self.speech_db, self.hop_s = speech_db, hop_s
        self.panel_aspect = panel[0] / panel[1]  # a split panel's width / height in the output
        self.panel_size: tuple[int, int] | None = None  # chosen by the first split shot, shared by all

    def clamp(self, cx: float, cy: float, w: float | None = None, h: float | None = None) -> tuple[float, float]:
        hw, hh = (self.crop_w if w is None else w) / 2, (self.crop_h if h is None else h) / 2
        return min(max(cx, hw), self.src_w - hw), min(max(cy, hh), self.src_h - hh)

    def centre_of(self, box: np.ndarray, crop_h: float | None = None) -> tuple[float, float]:
        x, y, w, h = box
        ch = self.crop_h if crop_h is None else crop_h
        return x + w / 2, y + h / 2 + self.p.headroom * ch

    def shot(self, start: float, end: float, samples: Sequence[Sample]) -> ShotPlan:
        mid = self.clamp(self.src_w / 2, self.src_h / 2)
        if not samples:
            return ShotPlan(start, end, "still", [(start, *mid)])
        people = self._people(samples)
        if not people:
            return self._faceless_shot(start, end, samples, mid)
        if len(people) >= 3:
            if self.crop_only:
                return self._one_person(start, end, samples, people[0].boxes)
            return ShotPlan(start, end, "fit", [(start, *mid)])
        left = min(float(np.percentile(s.boxes[:, 0], 10)) for s in people)
        right = max(float(np.percentile(s.boxes[:, 0] + s.boxes[:, 2], 90)) for s in people)
        if len(people) == 2:
            if right - left <= 0.95 * self.crop_w:
                cy = float(np.median([self.centre_of(b)[1] for b in people[0].boxes]))
                return ShotPlan(start, end, "still", [(start, *self.clamp((left + right) / 2, cy))])
            return self._two_people(start, end, samples, people)
        return self._one_person(start, end, samples, people[0].boxes)

    def _people(self, samples: Sequence[Sample]) -> list[_Person]:
        """Face tracks that are people in this shot, the most prominent first."""
        p, n = self.p, len(samples)
        # Support counts against the samples where *some* face was found: detectors miss frames of a
        # real face (turned head, blur), so a shot-wide share would drop true subjects.
        n_seen = sum(1 for s in samples if s.faces)
        tracks = [tr for tr in _tracks(samples) if len({t for t, _, _ in tr}) >= max(2, p.min_support * n_seen)
                  or (n < 3 and tr)]
        if not tracks:
            return []
        times = [s.t for s in samples]
        ranked = sorted(tracks, key=lambda tr: len(tr) * float(np.mean([f.area for _, f, _ in tr])), reverse=True)
        main = _Person(ranked[0], _series(ranked[0], times))
        main_area = float(np.median(main.boxes[:, 2] * main.boxes[:, 3]))
        people = [main]
        for tr in ranked[1:]:
            s = _series(tr, times)
            if len(tr) >= 0.4 * n_seen and float(np.median(s[:, 2] * s[:, 3])) >= p.fit_second_area * main_area:
                people.append(_Person(tr, s))
        return people

    def _one_person(self, start: float, end: float, samples: Sequence[Sample], main: np.ndarray) -> ShotPlan:
        times = [s.t for s in samples]
        left, right = float(np.percentile(main[:, 0], 10)), float(np.percentile(main[:, 0] + main[:, 2], 90))
        centres = np.array([self.clamp(*self.centre_of(b)) for b in main])
        top = float(np.percentile(main[:, 1], 5))
        bottom = float(np.percentile(main[:, 1] + main[:, 3], 95))
        if right - left <= 0.9 * self.crop_w and bottom - top <= 0.9 * self.crop_h:
            cx, cy = self.clamp((left + right) / 2, float(np.median(centres[:, 1])))
            return ShotPlan(start, end, "still", [(start, cx, cy)])
        face_w, face_h = float(np.median(main[:, 2])), float(np.median(main[:, 3]))
        return ShotPlan(start, end, "tracking", self._pans(start, end, times, centres, (face_w, face_h)))

    def _two_people(self, start: float, end: float, samples: Sequence[Sample], people: list[_Person]) -> ShotPlan:
        """Two people who do not fit one crop: cut to whoever speaks, or stack them in two panels.

        Active speaker when the sound and mouths tell who speaks and the turns (held ``turn_hold_s``)
        show the person talking on at least ``follow_agreement`` (90 %) of the voiced samples, with cuts
        no oftener than every ``min_turn_s`` (2.5 s) on average; split when both share the screen over
        ``split_min_s`` and the talk cannot be followed that way (quick exchanges, or no sign of who
        speaks). With less than ``split_min_s`` together: active speaker anyway.
        """
        times = [s.t for s in samples]
        both = sum(1 for s in samples if len(s.faces) >= 2)
        step = (times[-1] - times[0]) / max(1, len(times) - 1) if len(times) > 1 else end - start
        together_s = both * step
        mouth = np.stack([_mouths(person.track, times) for person in people])
        voiced = voiced_at(times, self.speech_db, self.hop_s)
        scores = speaking_scores(mouth, voiced)
        shares = talk_shares(times, scores, voiced)
        known = bool(np.any(scores > 0)) and bool(shares.max() > 0)
        # The cut's instant: where the new face's mouth starts moving (unsmoothed; a breath's pause may be unvoiced).
        moving = speaking_scores(mouth, np.ones(len(times)), smooth=1)
        spoken = turns(times, scores, start, end, self.p.turn_hold_s, raw=moving)
        followable = (known and agreement(times, scores, voiced, spoken) >= self.p.follow_agreement
                      and (len(spoken) - 1) * self.p.min_turn_s <= end - start)
        if together_s > self.p.split_min_s and not followable:
            if self.crop_only:
                return self._one_person(start, end, samples, people[0].boxes)
            return self._split(start, end, people)
        if not known:
            return self._one_person(start, end, samples, people[0].boxes)
        pts: list[Point] = []
        for turn in spoken:
            inside = [i for i, t in enumerate(times) if turn.start_s <= t < turn.end_s] or list(range(len(times)))
            box = np.median(people[turn.person].boxes[inside], axis=0)
            cx, cy = self.clamp(*self.centre_of(box))
            if pts:
                pts.append((turn.start_s, pts[-1][1], pts[-1][2]))  # hold the old crop up to the cut
            pts.append((turn.start_s, cx, cy))
        return ShotPlan(start, end, "active_speaker", pts)

    def _split(self, start: float, end: float, people: list[_Person]) -> ShotPlan:
        """Two panels, top then bottom (people ordered left to right), each holding one face.

        Each panel stays on its person's side of the line halfway between the two faces where it can (the
        face itself always wins): a panel clamped into the frame would otherwise show a strip of the other
        person's tile (seen on composed calls).
        """
        ordered = sorted(people, key=lambda p: float(np.median(p.boxes[:, 0] + p.boxes[:, 2] / 2)))
        boxes = [np.median(person.boxes, axis=0) for person in ordered]
        mid = (boxes[0][0] + boxes[0][2] + boxes[1][0]) / 2
        if self.panel_size is None:
            face_h = float(np.median([np.median(p.boxes[:, 3]) for p in people]))
            gap = abs(float(boxes[0][0] + boxes[0][2] / 2) - float(boxes[1][0] + boxes[1][2] / 2))
            side = min(gap, mid, self.src_w - mid)
            # Tall enough for head and shoulders; narrow enough that the other face (and its side) stays out.
            h = min(float(self.src_h), self.p.panel_face_room * face_h)
            w = min(float(self.src_w), h * self.panel_aspect, max(side, face_h * 1.2))
            h = min(h, w / self.panel_aspect)
            self.panel_size = (max(2, int(w) // 2 * 2), max(2, int(h) // 2 * 2))
        pw, ph = self.panel_size
        panels = []
        for (x, y, w, h), (lo, hi) in zip(boxes, ((0.0, mid), (mid, float(self.src_w))), strict=True):
            # Less headroom than a full-height crop: a panel is short, and the hair must not touch its top.
            cx, cy = x + w / 2, y + h / 2 + 0.03 * ph
            if hi - lo >= pw:
                cx = min(max(cx, lo + pw / 2), hi - pw / 2)
            if w <= pw:
                cx = min(max(cx, x + w - pw / 2), x + pw / 2)
            panels.append([(start, *self.clamp(cx, cy, pw, ph))])
        return ShotPlan(start, end, "split", panels[0], panels)

    def _faceless_shot(self, start: float, end: float, samples: Sequence[Sample],
                       mid: tuple[float, float]) -> ShotPlan:
        """No face: keep a title card whole (or fit it), else follow consistent motion, else the salient spot."""
        texts = [s.text for s in samples if s.text is not None]
        if len(texts) >= max(1, 0.5 * len(samples)):
            x0 = float(np.median([t[0] for t in texts]))
            x1 = float(np.median([t[0] + t[2] for t in texts]))
            y0 = float(np.median([t[1] for t in texts]))
            y1 = float(np.median([t[1] + t[3] for t in texts]))
            if (x1 - x0 > 0.95 * self.crop_w or y1 - y0 > 0.95 * self.crop_h) and not self.crop_only:
                return ShotPlan(start, end, "fit", [(start, *mid)])
            return ShotPlan(start, end, "still", [(start, *self.clamp((x0 + x1) / 2, (y0 + y1) / 2))])
        moving = self._motion_shot(start, end, samples)
        if moving is not None:
            return moving
        salient = [s.salient for s in samples if s.salient is not None]
        if len(salient) >= max(2, 0.5 * len(samples)):
            arr = np.array(salient)
            spread = float(np.percentile(arr[:, 0], 80) - np.percentile(arr[:, 0], 20))
            if spread <= self.crop_w / 2:
                cx, cy = self.clamp(float(np.median(arr[:, 0])), float(np.median(arr[:, 1])))
                return ShotPlan(start, end, "still", [(start, cx, cy)])
        return ShotPlan(start, end, "still", [(start, *mid)])

    def _motion_shot(self, start: float, end: float, samples: Sequence[Sample]) -> ShotPlan | None:
        """Follow where things move, if they move in a consistent place; None when nothing does."""
        pts = [(s.t, *self.clamp(*s.motion)) for s in samples if s.motion is not None]
        if len(pts) < max(2, 0.5 * len(samples)):
            return None
        arr = np.array(pts)
        cx, cy = float(np.median(arr[:, 1])), float(np.median(arr[:, 2]))
        spread = float(np.percentile(arr[:, 1], 80) - np.percentile(arr[:, 1], 20))
        if spread <= self.p.dead_zone * self.crop_w * 2:
            return ShotPlan(start, end, "still", [(start, cx, cy)])
        # Motion centres are noisy: a wide median before panning on them.
        k = 5
        xs = np.array([np.median(arr[max(0, i - k // 2): i + k // 2 + 1, 1]) for i in range(len(arr))])
        ys = np.array([np.median(arr[max(0, i - k // 2): i + k // 2 + 1, 2]) for i in range(len(arr))])
        return ShotPlan(start, end, "tracking", self._pans(start, end, list(arr[:, 0]), np.stack([xs, ys], 1)))

    def _pans(self, start: float, end: float, times: Sequence[float], centres: np.ndarray,
              subject: tuple[float, float] = (0.0, 0.0)) -> list[tuple[float, float, float]]:
        """Hold while the subject stays in the dead zone; else pan, eased and speed-capped, to where it settles."""
        p = self.p
        times = np.asarray(times, dtype=np.float64)
        # A 3-sample median removes single-sample detector noise before any decision.
        sm = np.array([np.median(centres[max(0, i - 1): i + 2], axis=0) for i in range(len(centres))])
        first = times <= times[0] + p.lookahead_s
        cam = np.median(sm[first], axis=0)
        pts: list[tuple[float, float, float]] = [(start, float(cam[0]), float(cam[1]))]
        free_at = start
        # The dead zone shrinks when the subject nearly fills the crop, so it never drifts out of it.
        half = np.array([
            min(p.dead_zone * self.crop_w / 2, max(2.0, (self.crop_w - subject[0]) / 2 * 0.8)),
            min(p.dead_zone * self.crop_h / 2, max(2.0, (self.crop_h - subject[1]) / 2 * 0.8)),
        ])
        vmax = np.array([p.max_speed * self.crop_w, p.max_speed * self.crop_h])
        for i, t in enumerate(times):
            if t < free_at or np.all(np.abs(sm[i] - cam) <= half):
                continue
            window = (times >= t) & (times <= t + p.lookahead_s)
            # Where the subject will be at the end of the look-ahead (already median-smoothed): a camera aimed
            # at the window's middle trails a subject that keeps walking and loses it at the edge.
            ahead = np.flatnonzero(window)
            target = sm[ahead[-1]]
            span = times[ahead[-1]] - times[ahead[0]]
            if span > 0:
                # A subject that keeps walking will be further on when the pan lands: aim there.
                velocity = (sm[ahead[-1]] - sm[ahead[0]]) / span
                target = target + velocity * (p.lookahead_s / 2)
            target = np.array(self.clamp(*target))
            if np.all(np.abs(target - cam) <= half):
                continue  # a brief excursion: the subject comes back on its own
            # Smoothstep peaks at 1.5x the mean speed, so this duration keeps the peak at vmax.
            dur = max(p.min_pan_s, float(np.max(1.5 * np.abs(target - cam) / vmax)))
            t0 = max(free_at, t - 0.15)
            t1 = t0 + dur
            if t1 > end:
                # The shot ends mid-pan: stop where the eased curve is at the cut (speed stays capped).
                k = _smoothstep((end - t0) / dur)
                target = cam + (target - cam) * k
                t1 = end
            pts.append((t0, float(cam[0]), float(cam[1])))
            pts.append((t1, float(target[0]), float(target[1])))
            cam = target
            free_at = t1
        # Keep a pan start only if the camera held before it (the shot-start point already says so).
        out = [pts[0]]
        for q in pts[1:]:
            if q[0] <= out[-1][0] + 1e-9:
                out[-1] = q if q[0] > out[-1][0] else (out[-1][0], q[1], q[2])
            else:
                out.append(q)
        return out


def plan_camera(
    samples: Sequence[Sample],
    duration_s: float,
    src_w: int,
    src_h: int,
    crop_w: int,
    crop_h: int,
    cuts_s: Sequence[float] = (),
    params: PlanParams | None = None,
    *,
    out_w: int | None = None,
    out_h: int | None = None,
    speech_db: np.ndarray | None = None,
    hop_s: float = 0.05,
    layout: str = "auto",
) -> CameraPlan:
    """Plan the framing of a clip of ``duration_s`` from its samples (clip time, source pixels).

    Each shot (split at ``cuts_s``) gets one layout (see the module doc). ``out_w`` x ``out_h`` is the
    output frame (default: the crop's size); ``speech_db`` is the clip's loudness per ``hop_s`` from its
    start, which tells when someone speaks. The camera never moves across a cut except by jumping at it.
    ``layout`` (``CLIP_LAYOUTS``): "crop" never fits nor splits; "fit" is ``fit_plan``.
    """
    if layout not in CLIP_LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(CLIP_LAYOUTS)}")
    if layout == "fit":
        return fit_plan(duration_s, src_w, src_h, min(crop_w, src_w), min(crop_h, src_h), out_w, out_h)
    p = params or PlanParams()
    crop_w, crop_h = min(crop_w, src_w), min(crop_h, src_h)
    out_w, out_h = out_w or crop_w, out_h or crop_h
    planner = _Planner(src_w, src_h, crop_w, crop_h, p, speech_db, hop_s, (out_w, out_h // 2 // 2 * 2),
                       crop_only=layout == "crop")
    shots = []
    for a, b in shot_ranges(duration_s, cuts_s):
        inside = [s for s in samples if a <= s.t < b]
        shots.append(planner.shot(a, b, inside))
    panel_w, panel_h = planner.panel_size or (0, 0)
    track = [(s.t, s.faces) for s in samples]
    return CameraPlan(src_w, src_h, crop_w, crop_h, duration_s, shots, out_w, out_h, panel_w, panel_h, track)


def centered_plan(duration_s: float, src_w: int, src_h: int, box: tuple[int, int, int, int],
                  out_w: int | None = None, out_h: int | None = None) -> CameraPlan:
    """A plan that holds one crop box for the whole clip (reframing off, or nothing to analyse)."""
    x, y, w, h = box
    shot = ShotPlan(0.0, duration_s, "still", [(0.0, x + w / 2, y + h / 2)])
    return CameraPlan(src_w, src_h, w, h, duration_s, [shot], out_w or w, out_h or h)


def fit_plan(duration_s: float, src_w: int, src_h: int, crop_w: int, crop_h: int,
             out_w: int | None = None, out_h: int | None = None) -> CameraPlan:
    """The whole frame over a blurred copy for the whole clip (the "fit" layout an edit can ask for)."""
    shot = ShotPlan(0.0, duration_s, "fit", [(0.0, src_w / 2, src_h / 2)])
    return CameraPlan(src_w, src_h, crop_w, crop_h, duration_s, [shot], out_w or crop_w, out_h or crop_h)
