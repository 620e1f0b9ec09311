"""Black borders burnt into a picture (letterbox, pillarbox): what a crop frames is the picture inside them.

A 4:3 or 16:9 picture inside black bars (a film letterboxed in a TV frame, a phone video pillarboxed in a
landscape one) cropped as it is to 9:16 kept the bars as black strips at the top and bottom of the clip. Bars
are found from the brightest value each row and column of the picture reached over a clip's samples: studio
black stays near 16 whatever is shown, the picture does not. Pure functions, no pixels decoded here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from streamapp.reframe.path import Sample
from streamapp.vision.faces import Face

BAR_LUMA = 40.0  # a row or column never brighter than this (0-255 luma; studio black is 16) is part of a bar
MIN_BAR = 0.02  # a bar thinner than this share of its side is an encoder's edge, not a border
MAX_BAR = 0.25  # one wider than this is a dark picture (a night sky, a stage), not a border
BALANCE = 0.03  # opposite bars are centred (within this share of the side): a dark sky above is not a letterbox


@dataclass(frozen=True)
class Area:
    """The picture inside the borders, in source pixels (even, so 4:2:0 chroma crops with it)."""

    x: int
    y: int
    w: int
    h: int

    @classmethod
    def whole(cls, width: int, height: int) -> Area:
        return cls(0, 0, width, height)

    def in_source(self, boxes: list[dict[str, float]]) -> list[dict[str, float]]:
        """Crop keyframes (``{t_s, x, y, w, h}`` in the area's pixels) in the source frame's."""
        return [{**box, "x": box["x"] + self.x, "y": box["y"] + self.y} for box in boxes]

    def planes(self, planes: list[np.ndarray]) -> list[np.ndarray]:
        """Views of yuv420p planes (Y, U, V) cut to the area."""
        y, u, v = planes
        cx, cy, cw, ch = self.x // 2, self.y // 2, self.w // 2, self.h // 2
        return [y[self.y : self.y + self.h, self.x : self.x + self.w], u[cy : cy + ch, cx : cx + cw],
                v[cy : cy + ch, cx : cx + cw]]


def _bars(peak: np.ndarray) -> tuple[float, float]:
    """The leading and trailing bar as shares of the side, (0, 0) where the edges are not a border. One row
    more than the dark ones is taken: the first row that is not dark may still hold a few black lines."""
    dark = np.asarray(peak, np.float64) <= BAR_LUMA
    n = dark.size
    if n == 0 or dark.all():
        return 0.0, 0.0  # no picture at all (a black clip): nothing to frame inside
    lead = int(np.argmin(dark))
    trail = int(np.argmin(dark[::-1]))
    a, b = lead / n, trail / n
    if min(a, b) < MIN_BAR or max(a, b) > MAX_BAR or abs(a - b) > BALANCE:
        return 0.0, 0.0
    return (lead + 1) / n, (trail + 1) / n


def _even_in(share: float, side: int) -> int:
    """``share`` of ``side`` in pixels, rounded up to even (inward: a border line must not show)."""
    px = math.ceil(share * side)
    return px + px % 2


def picture_area(row_peak: np.ndarray, col_peak: np.ndarray, width: int, height: int) -> Area:
    """The area inside letterbox (rows) and pillarbox (columns) bars, from the brightest luma each row and column
    of a downscaled picture reached (``row_peak``: one per row, top first); the whole frame without bars."""
    top, bottom = _bars(row_peak)
    left, right = _bars(col_peak)
    y0, y1 = _even_in(top, height), height - _even_in(bottom, height)
    x0, x1 = _even_in(left, width), width - _even_in(right, width)
    if y1 - y0 < height // 2 or x1 - x0 < width // 2:
        return Area.whole(width, height)
    return Area(x0, y0, x1 - x0 - (x1 - x0) % 2, y1 - y0 - (y1 - y0) % 2)


def shifted(sample: Sample, area: Area) -> Sample:
    """A sample seen in the whole frame, in the coordinates of ``area``."""
    if (area.x, area.y) == (0, 0):
        return sample
    dx, dy = float(area.x), float(area.y)

    def face(f: Face) -> Face:
        return replace(f, x=f.x - dx, y=f.y - dy, landmarks=tuple((px - dx, py - dy) for px, py in f.landmarks))

    def point(p: tuple[float, float] | None) -> tuple[float, float] | None:
        return None if p is None else (p[0] - dx, p[1] - dy)

    text = None if sample.text is None else (sample.text[0] - dx, sample.text[1] - dy, *sample.text[2:])
    return replace(sample, faces=tuple(face(f) for f in sample.faces), motion=point(sample.motion),
                   salient=point(sample.salient), text=text)
