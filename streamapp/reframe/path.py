"""Camera planning: from sampled face/motion detections to a smooth crop path, shot by shot.

The path is a list of camera *points* per shot. Between two points with the same position the
camera holds; between two different ones it pans with an ease-in/out curve. The planner only
adds a point where the camera starts or stops moving, so the points double as editor keyframes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from streamapp.vision.faces import Face

LAYOUTS = ("still", "tracking", "fit", "center")


@dataclass(frozen=True)
class Sample:
    """What the analysis saw at clip time ``t`` (s): faces and a motion centre, in source pixels."""

    t: float
    faces: tuple[Face, ...] = ()
    motion: tuple[float, float] | None = None


@dataclass(frozen=True)
class PlanParams:
    dead_zone: float = 0.25  # fraction of the crop size inside which the subject may move freely
    max_speed: float = 0.6  # crop widths (or heights) per second, at the fastest point of a pan
    min_pan_s: float = 0.35
    lookahead_s: float = 0.8  # the pan target is where the subject settles over this window
    min_support: float = 0.3  # a face track must be seen in this share of a shot's samples
    fit_second_area: float = 0.35  # a second face this large (vs. the first) counts as a person
    headroom: float = 0.1  # faces sit this fraction of the crop height above its centre


@dataclass
class ShotPlan:
    start_s: float
    end_s: float
    layout: str
    points: list[tuple[float, float, float]] = field(default_factory=list)  # (t, cx, cy), t ascending


def _smoothstep(u: float) -> float:
    u = min(1.0, max(0.0, u))
    return u * u * (3.0 - 2.0 * u)


@dataclass
class CameraPlan:
    """A crop path over a clip: ``box_at(t)`` for rendering, ``keyframes()`` for export."""

    src_w: int
    src_h: int
    crop_w: int
    crop_h: int
    duration_s: float
    shots: list[ShotPlan]

    @property
    def layout(self) -> str:
        """The layout that covers most of the clip."""
        spans: dict[str, float] = {}
        for s in self.shots:
            spans[s.layout] = spans.get(s.layout, 0.0) + (s.end_s - s.start_s)
        return max(spans, key=lambda k: spans[k]) if spans else "center"

    def shot_at(self, t: float) -> ShotPlan:
        for s in self.shots:
            if t < s.end_s:
                return s
        return self.shots[-1]

    def center_at(self, t: float) -> tuple[float, float]:
        pts = self.shot_at(t).points
        if t <= pts[0][0]:
            return pts[0][1], pts[0][2]
        for (t0, x0, y0), (t1, x1, y1) in zip(pts, pts[1:], strict=False):
            if t < t1:
                k = _smoothstep((t - t0) / (t1 - t0)) if t1 > t0 else 1.0
                return x0 + (x1 - x0) * k, y0 + (y1 - y0) * k
        return pts[-1][1], pts[-1][2]

    def box_at(self, t: float) -> tuple[int, int, int, int]:
        """Crop ``(x, y, w, h)`` in source pixels at clip time ``t``: even, inside the frame."""
        if self.shot_at(t).layout == "fit":
            return 0, 0, self.src_w - self.src_w % 2, self.src_h - self.src_h % 2
        cx, cy = self.center_at(t)
        x = int(round((cx - self.crop_w / 2) / 2)) * 2
        y = int(round((cy - self.crop_h / 2) / 2)) * 2
        x = min(max(0, x), self.src_w - self.crop_w)
        y = min(max(0, y), self.src_h - self.crop_h)
        return x, y, self.crop_w, self.crop_h

    def keyframes(self, frame_s: float = 0.0) -> list[dict[str, float]]:
        """Crop boxes where the path changes: shot starts/ends and pan starts/ends (clip time, source px).

        Linear interpolation between them reproduces the path up to the pans' easing. ``frame_s`` puts a
        shot's closing keyframe on its last frame rather than on the cut itself.
        """
        out: list[dict[str, float]] = []
        for shot in self.shots:
            last = max(shot.start_s, shot.end_s - frame_s)
            times = [shot.start_s] + [p[0] for p in shot.points if shot.start_s < p[0] < last] + [last]
            for t in times:
                x, y, w, h = self.box_at(t)
                item = {"t_s": round(t, 3), "x": x, "y": y, "w": w, "h": h}
                if out and out[-1]["t_s"] >= item["t_s"]:
                    out[-1] = item  # same instant (a one-frame shot): the later box wins
                else:
                    out.append(item)
        return out


def shot_ranges(duration_s: float, cuts_s: Sequence[float], min_shot_s: float = 0.2) -> list[tuple[float, float]]:
    """Split [0, duration) at the cuts (clip time); cuts too near an edge or each other are dropped."""
    edges = [0.0]
    for c in sorted(cuts_s):
        if min_shot_s <= c <= duration_s - min_shot_s and c - edges[-1] >= min_shot_s:
            edges.append(float(c))
    edges.append(float(duration_s))
    return list(zip(edges, edges[1:], strict=False))


def _tracks(samples: Sequence[Sample]) -> list[list[tuple[float, Face]]]:
    """Greedy face tracks: a face joins the track whose last box is nearest, if close enough."""
    tracks: list[list[tuple[float, Face]]] = []
    for s in samples:
        taken: set[int] = set()
        for f in s.faces:
            best, best_d = -1, math.inf
            for i, tr in enumerate(tracks):
                if i in taken or s.t - tr[-1][0] > 3.0:
                    continue
                g = tr[-1][1]
                d = math.dist(f.center, g.center)
                if d < 0.6 * max(f.w, g.w) and 0.5 < f.w / g.w < 2.0 and d < best_d:
                    best, best_d = i, d
            if best < 0:
                tracks.append([(s.t, f)])
                taken.add(len(tracks) - 1)
            else:
                tracks[best].append((s.t, f))
                taken.add(best)
    return tracks


def _series(track: list[tuple[float, Face]], times: Sequence[float]) -> np.ndarray:
    """The track's box (x, y, w, h) at each time: held at the nearest sample where it was not seen."""
    tt = np.array([t for t, _ in track])
    boxes = np.array([(f.x, f.y, f.w, f.h) for _, f in track], dtype=np.float64)
    idx = np.clip(np.searchsorted(tt, times), 0, len(tt) - 1)
    prev = np.clip(idx - 1, 0, len(tt) - 1)
    use_prev = np.abs(tt[prev] - np.asarray(times)) < np.abs(tt[idx] - np.asarray(times))
    return boxes[np.where(use_prev, prev, idx)]


class _Planner:
    def __init__(self, src_w: int, src_h: int, crop_w: int, crop_h: int, p: PlanParams) -> None:
        self.src_w, self.src_h, self.crop_w, self.crop_h, self.p = src_w, src_h, crop_w, crop_h, p

    def clamp(self, cx: float, cy: float) -> tuple[float, float]:
        hw, hh = self.crop_w / 2, self.crop_h / 2
        return min(max(cx, hw), self.src_w - hw), min(max(cy, hh), self.src_h - hh)

    def centre_of(self, box: np.ndarray) -> tuple[float, float]:
        x, y, w, h = box
        return self.clamp(x + w / 2, y + h / 2 + self.p.headroom * self.crop_h)

    def shot(self, start: float, end: float, samples: Sequence[Sample]) -> ShotPlan:
        p = self.p
        mid = self.clamp(self.src_w / 2, self.src_h / 2)
        if not samples:
            return ShotPlan(start, end, "center", [(start, *mid)])
        n = len(samples)
        # Support counts against the samples where *some* face was found: Haar misses many frames of
        # a real face (turned head, blur), so a shot-wide share would drop true subjects.
        n_seen = sum(1 for s in samples if s.faces)
        tracks = [tr for tr in _tracks(samples) if len({t for t, _ in tr}) >= max(2, p.min_support * n_seen)
                  or (n < 3 and tr)]
        if not tracks:
            return self._motion_shot(start, end, samples, mid)
        times = [s.t for s in samples]
        ranked = sorted(tracks, key=lambda tr: len(tr) * float(np.mean([f.area for _, f in tr])), reverse=True)
        main = _series(ranked[0], times)
        main_area = float(np.median(main[:, 2] * main[:, 3]))
        people = [main]
        for tr in ranked[1:]:
            s = _series(tr, times)
            if len(tr) >= 0.4 * n_seen and float(np.median(s[:, 2] * s[:, 3])) >= p.fit_second_area * main_area:
                people.append(s)
        left = min(float(np.percentile(s[:, 0], 10)) for s in people)
        right = max(float(np.percentile(s[:, 0] + s[:, 2], 90)) for s in people)
        if len(people) > 1:
            if right - left <= 0.95 * self.crop_w:
                cy = float(np.median([self.centre_of(b)[1] for b in main]))
                return ShotPlan(start, end, "still", [(start, *self.clamp((left + right) / 2, cy))])
            return ShotPlan(start, end, "fit", [(start, *mid)])
        centres = np.array([self.centre_of(b) for b in main])
        top = float(np.percentile(main[:, 1], 5))
        bottom = float(np.percentile(main[:, 1] + main[:, 3], 95))
        if right - left <= 0.9 * self.crop_w and bottom - top <= 0.9 * self.crop_h:
            cx, cy = self.clamp((left + right) / 2, float(np.median(centres[:, 1])))
            return ShotPlan(start, end, "still", [(start, cx, cy)])
        face_w, face_h = float(np.median(main[:, 2])), float(np.median(main[:, 3]))
        return ShotPlan(start, end, "tracking", self._pans(start, end, times, centres, (face_w, face_h)))

    def _motion_shot(self, start: float, end: float, samples: Sequence[Sample], mid: tuple[float, float]) -> ShotPlan:
        """No face: follow where things move, if they move in a consistent place; else the centre."""
        pts = [(s.t, *self.clamp(*s.motion)) for s in samples if s.motion is not None]
        if len(pts) < max(2, 0.5 * len(samples)):
            return ShotPlan(start, end, "center", [(start, *mid)])
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
            target = np.median(sm[window], axis=0)
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
) -> CameraPlan:
    """Plan the crop path of a clip of ``duration_s`` from its samples (clip time, source pixels).

    Each shot (split at ``cuts_s``) gets one layout: "still" (one fixed crop holds the subject),
    "tracking" (dead-zone pans), "fit" (two people too far apart: show the whole frame) or
    "center" (nothing to follow). The camera never moves across a cut except by jumping at it.
    """
    p = params or PlanParams()
    crop_w, crop_h = min(crop_w, src_w), min(crop_h, src_h)
    planner = _Planner(src_w, src_h, crop_w, crop_h, p)
    shots = []
    for a, b in shot_ranges(duration_s, cuts_s):
        inside = [s for s in samples if a <= s.t < b]
        shots.append(planner.shot(a, b, inside))
    return CameraPlan(src_w, src_h, crop_w, crop_h, duration_s, shots)


def centered_plan(duration_s: float, src_w: int, src_h: int, box: tuple[int, int, int, int]) -> CameraPlan:
    """A plan that holds one crop box for the whole clip (reframing off, or nothing to analyse)."""
    x, y, w, h = box
    shot = ShotPlan(0.0, duration_s, "center", [(0.0, x + w / 2, y + h / 2)])
    return CameraPlan(src_w, src_h, w, h, duration_s, [shot])
