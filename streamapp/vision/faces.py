"""Face detection on single frames (OpenCV Haar cascade shipped in opencv-python-headless 4.x)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Face:
    """A face box in the pixel coordinates of the frame it was found in."""

    x: float
    y: float
    w: float
    h: float
    score: float

    @property
    def center(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    @property
    def area(self) -> float:
        return self.w * self.h


_local = threading.local()  # cv2 cascades are not safe to share between threads


def _load(attr: str, name: str) -> cv2.CascadeClassifier:
    cascade = getattr(_local, attr, None)
    if cascade is None:
        cascade = cv2.CascadeClassifier(cv2.data.haarcascades + name)
        if cascade.empty():
            raise RuntimeError(f"OpenCV's {name} is missing (opencv-python-headless 4.x ships it)")
        setattr(_local, attr, cascade)
    return cascade


def _cascade() -> cv2.CascadeClassifier:
    return _load("cascade", "haarcascade_frontalface_default.xml")


def _confirmed(gray: np.ndarray, x: int, y: int, w: int, h: int) -> bool:
    """Second opinion from the differently trained ``alt2`` cascade, on the box and a margin only.

    The default cascade fires on things like the back of a hatted head; alt2 rarely agrees on those
    but does on real faces (a loose check: 2 neighbours, half the box size). Costs well under 1 ms.
    """
    m = int(0.25 * w)
    roi = gray[max(0, y - m) : y + h + m, max(0, x - m) : x + w + m]
    side = max(12, int(0.5 * w))
    found = _load("alt2", "haarcascade_frontalface_alt2.xml").detectMultiScale(
        roi, scaleFactor=1.1, minNeighbors=2, minSize=(side, side)
    )
    return len(found) > 0


def detect_faces(gray: np.ndarray, min_size_frac: float = 0.06) -> list[Face]:
    """Faces in a uint8 grey frame, largest first. ``min_size_frac``: smallest face side / frame height."""
    if gray.ndim == 3:
        gray = cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY)
    side = max(12, int(gray.shape[0] * min_size_frac))
    boxes, _, weights = _cascade().detectMultiScale3(
        gray, scaleFactor=1.15, minNeighbors=5, minSize=(side, side), outputRejectLevels=True
    )
    faces = [
        Face(float(x), float(y), float(w), float(h), float(s))
        for (x, y, w, h), s in zip(boxes, weights, strict=False)
        if _confirmed(gray, int(x), int(y), int(w), int(h))
    ]
    return sorted(faces, key=lambda f: f.area, reverse=True)
