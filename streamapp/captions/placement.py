"""Where burned-in captions go: one band per shot, clear of faces and of the platforms' UI.

Pure geometry, no pixels. A *band* is a horizontal strip (top ``y``, height ``h``) spanning the
safe width at that height; every caption line is drawn centred inside its band. Per shot the
faces seen in the output frame are sampled (every ``SAMPLE_STEP_S``) and pooled, and the band is
chosen once for the whole shot, so it never moves inside a shot.

Preference, per shot:
  1. clear of every face box (+ ``FACE_MARGIN``) and of the forehead/hair above it (``HEAD_ROOM``);
  2. clear of every face box (+ margin) only (it may sit over a forehead);
  3. nothing is clear (a face fills the frame): the spot that covers the least of the faces,
     ties going to the topmost spot, i.e. over the brows/forehead rather than the mouth.
Within the best tier: the home position (the style's ``position``) if it qualifies, else the
previous shot's band if it qualifies (no needless jumps between close-ups), else the spot nearest
home. Home sits in the lower third, so "nearest home" is below the chin when there is room and
above the head otherwise.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

Box = tuple[float, float, float, float]  # x, y, w, h in output pixels
FacesAt = Callable[[float], Sequence[Box]]

# Safe area, as fractions of the output frame (9:16 numbers quoted for 1080x1920). Public safe-zone
# guides (TikTok / Reels / Shorts, 2025-26) put the UI at: top bar 108-220 px, bottom description /
# sound / title row 290-450 px, right action column 120-170 px wide from about mid-height down, a
# left edge of ~60 px. We keep:
SAFE_TOP = 0.08  # 154 px: TikTok's Following/For You tabs (~130 px), Shorts' top bar (~120 px)
SAFE_BOTTOM = 0.16  # 307 px: description + sound row (TikTok ~320 px, Shorts title ~290 px)
SAFE_SIDE = 0.06  # 65 px each side: TikTok's ~60 px left edge; also the right edge above the icons
ICON_COLUMN_W = 0.14  # 151 px: like/comment/share/save column (TikTok 120-164 px, Reels ~120 px)
ICON_COLUMN_TOP = 0.45  # the column covers the lower 55% of the height (avatar at ~47% on TikTok)

FACE_MARGIN = 0.08  # forbidden box = detector box grown by this fraction of its size on each side
MIN_FACE_MARGIN_PX = 4
HEAD_ROOM = 0.5  # forehead + hair above a brows-to-chin box, as a fraction of its height: avoided if possible
SAMPLE_STEP_S = 0.25


@dataclass(frozen=True)
class Band:
    """A caption strip: rows ``y .. y+h``, columns ``x0 .. x1`` (the safe width at that height)."""

    y: int
    h: int
    x0: int
    x1: int
    covers_face: bool = False  # True when no spot cleared every face in the shot: the least-covering one

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def centre_x(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.x0, self.y, self.x1 - self.x0, self.h


def _even_up(v: float) -> int:
    return int(math.ceil(v / 2)) * 2


def _even_down(v: float) -> int:
    return int(math.floor(v / 2)) * 2


@dataclass(frozen=True)
class SafeArea:
    """The UI-free part of a ``w x h`` output frame (all edges even, for 4:2:0 chroma)."""

    w: int
    h: int

    @property
    def top(self) -> int:
        return _even_up(SAFE_TOP * self.h)

    @property
    def bottom(self) -> int:
        return _even_down((1.0 - SAFE_BOTTOM) * self.h)

    @property
    def left(self) -> int:
        return _even_up(SAFE_SIDE * self.w)

    @property
    def right(self) -> int:
        return _even_down((1.0 - SAFE_SIDE) * self.w)

    @property
    def icon_left(self) -> int:
        return _even_down((1.0 - ICON_COLUMN_W) * self.w)

    @property
    def icon_top(self) -> int:
        return _even_up(ICON_COLUMN_TOP * self.h)

    def x_range(self, y: float, band_h: float) -> tuple[int, int]:
        """Safe columns for rows ``y .. y+band_h``: left of the icon column when the rows reach it."""
        right = self.icon_left if y + band_h > self.icon_top else self.right
        return self.left, right

    @property
    def narrowest(self) -> int:
        """The safe width a line must fit to go anywhere (the width beside the icon column)."""
        return min(self.right, self.icon_left) - self.left

    def contains(self, box: tuple[float, float, float, float]) -> bool:
        x, y, w, h = box
        x0, x1 = self.x_range(y, h)
        return y >= self.top and y + h <= self.bottom and x >= x0 and x + w <= x1


def _y_range(area: SafeArea, band_h: int) -> tuple[int, int]:
    lo = area.top
    hi = _even_down(area.bottom - band_h)
    return lo, max(lo, hi)


def home_y(w: int, h: int, band_h: int, position: float) -> int:
    """Top of a band centred at ``position`` of the height, clamped into the safe area."""
    lo, hi = _y_range(SafeArea(w, h), band_h)
    return min(max(_even_down(position * h - band_h / 2), lo), hi)


def _band(area: SafeArea, y: int, band_h: int, covers: bool = False) -> Band:
    x0, x1 = area.x_range(y, band_h)
    return Band(y, band_h, x0, x1, covers)


def default_band(w: int, h: int, band_h: int, position: float) -> Band:
    """The band with no faces to avoid: the style's position, clamped into the safe area."""
    area = SafeArea(w, h)
    return _band(area, home_y(w, h, band_h, position), band_h)


def place_band(
    w: int,
    h: int,
    band_h: int,
    faces: Sequence[Box],
    position: float = 0.70,
    prefer_y: int | None = None,
) -> Band:
    """The band for one shot, given every face box seen during it (pooled over time)."""
    area = SafeArea(w, h)
    band_h = max(2, _even_up(band_h))
    lo, hi = _y_range(area, band_h)
    home = home_y(w, h, band_h, position)
    f = np.array([b for b in faces if b[2] > 0 and b[3] > 0], np.float64).reshape(-1, 4)
    if len(f) == 0:
        return _band(area, home, band_h)
    ys = np.arange(lo, hi + 1, 2, dtype=np.float64)
    # Columns of the band at each candidate height (two cases: beside the icon column or above it).
    low = ys + band_h > area.icon_top
    bx0 = np.full(len(ys), float(area.left))
    bx1 = np.where(low, float(area.icon_left), float(area.right))

    fx, fy, fw, fh = f.T
    m = np.maximum(FACE_MARGIN * np.maximum(fw, fh), MIN_FACE_MARGIN_PX)
    hx0, hx1, hy0, hy1 = fx - m, fx + fw + m, fy - m, fy + fh + m  # forbidden (hard)
    ry0 = hy0 - HEAD_ROOM * fh  # forehead/hair above the box (soft)

    def overlap_x(a0: np.ndarray, a1: np.ndarray) -> np.ndarray:  # (N, M) bool
        return (bx0[:, None] < a1[None, :]) & (bx1[:, None] > a0[None, :])

    def overlap_y(a0: np.ndarray, a1: np.ndarray) -> np.ndarray:
        return (ys[:, None] < a1[None, :]) & (ys[:, None] + band_h > a0[None, :])

    ox = overlap_x(hx0, hx1)
    hard = (ox & overlap_y(hy0, hy1)).any(axis=1)
    soft = (ox & overlap_y(ry0, hy0)).any(axis=1)
    tiers = [~hard & ~soft, ~hard]
    for ok in tiers:
        if ok.any():
            idx = np.nonzero(ok)[0]
            cand = ys[idx]
            if ok[int((home - lo) // 2)]:
                y = home
            elif prefer_y is not None and lo <= prefer_y <= hi and prefer_y % 2 == 0 and ok[(prefer_y - lo) // 2]:
                y = prefer_y
            else:
                y = int(cand[np.argmin(np.abs(cand - home))])  # argmin: the first (upper) on a tie
            return _band(area, int(y), band_h)
    # Nothing clears every face (a face fills the frame, or faces move all over the shot): cover the
    # least of them, as the fraction of each face's height under the band, summed over the faces the
    # band meets across the samples (so a face seen in fewer samples weighs less). Ties go to the
    # topmost spot: over the brows/forehead, leaving the eyes-to-mouth region as visible as we can.
    iy = np.clip(np.minimum(ys[:, None] + band_h, (fy + fh)[None, :]) - np.maximum(ys[:, None], fy[None, :]), 0, None)
    cover = (overlap_x(fx, fx + fw) * iy / fh[None, :]).sum(axis=1)
    best = int(np.argmin(np.round(cover, 6)))
    return _band(area, int(ys[best]), band_h, covers=bool(cover[best] > 0))


def sample_times(start: float, end: float, step: float = SAMPLE_STEP_S) -> list[float]:
    """Sample times inside [start, end): every ``step`` from ``start``, at least one."""
    if end <= start:
        return [start]
    n = max(1, int(math.ceil((end - start) / step - 1e-9)))
    return [start + i * step for i in range(n)]


def place_shots(
    w: int,
    h: int,
    band_h: int,
    shots: Sequence[tuple[float, float]],
    faces_at: FacesAt | None,
    position: float = 0.70,
    step: float = SAMPLE_STEP_S,
) -> list[Band]:
    """One band per shot (in the given order), each chosen from the faces sampled during that shot."""
    bands: list[Band] = []
    prev: int | None = None
    for start, end in shots:
        faces: list[Box] = []
        if faces_at is not None:
            for t in sample_times(start, end, step):
                faces.extend(tuple(map(float, b)) for b in faces_at(t))  # type: ignore[misc]
        band = place_band(w, h, band_h, faces, position, prefer_y=prev)
        bands.append(band)
        prev = band.y
    return bands


class CaptionPlacement:
    """Per-shot caption bands for a clip; ``band_at(t)`` is the band showing at clip time ``t``.

    Without shots (or faces) every time gets the default band. The band changes only at shot starts.
    """

    def __init__(
        self,
        w: int,
        h: int,
        band_h: int,
        shots: Sequence[tuple[float, float]] | None = None,
        faces_at: FacesAt | None = None,
        position: float = 0.70,
        step: float = SAMPLE_STEP_S,
    ) -> None:
        self.area = SafeArea(w, h)
        self.default = default_band(w, h, max(2, _even_up(band_h)), position)
        self.shots = sorted((float(a), float(b)) for a, b in (shots or ()))
        self.bands = place_shots(w, h, band_h, self.shots, faces_at, position, step) if self.shots else []
        self._starts = [a for a, _ in self.shots]

    def _shot_index(self, t: float) -> int | None:
        if not self.shots:
            return None
        # A time before the first shot takes the first shot's band; one in a gap, the preceding shot's.
        return max(0, bisect.bisect_right(self._starts, t) - 1)

    def band_at(self, t: float) -> Band:
        i = self._shot_index(t)
        return self.default if i is None else self.bands[i]

    def segments(self, start: float, end: float) -> list[tuple[float, float, Band]]:
        """[start, end) split where the band changes (at shot boundaries)."""
        cuts = sorted({a for a in self._starts if start < a < end})
        out: list[tuple[float, float, Band]] = []
        for a, b in zip([start, *cuts], [*cuts, end], strict=True):
            band = self.band_at(a)
            if out and out[-1][2] == band:
                out[-1] = (out[-1][0], b, band)
            else:
                out.append((a, b, band))
        return out
