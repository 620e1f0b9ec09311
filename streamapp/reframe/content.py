"""What a frame shows when no face leads the camera: its salient centre, a title card's text, a thumbnail's worth.

Pure functions on small uint8 grey frames (the planning pre-pass's ~360-px luma); boxes are in the
pixels of the frame given. Each costs well under a millisecond at that size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[float, float, float, float]  # x, y, w, h

_SALIENCY_SIDE = 64  # spectral residual works on a tiny picture: it finds what stands out, not detail
_TEXT_MIN_ROWS = 2  # a title card has at least this many text-like line segments
_FLAT_STD = 6.0  # luma standard deviation below this: a black, white or faded frame
NEAR_CUT_S = 0.4  # a frame this close to a shot change may be half one shot and half the next
CUT_PENALTY = 5.0


def saliency_map(grey: np.ndarray) -> np.ndarray:
    """Spectral-residual saliency (Hou & Zhang 2007) at 64 px on the long side, 0..1, as float32.

    The log spectrum's deviation from its local average marks what is unusual in the picture: a
    subject against a plain or repetitive background.
    """
    h, w = grey.shape[:2]
    scale = _SALIENCY_SIDE / max(h, w)
    small = cv2.resize(grey, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
    spectrum = np.fft.fft2(small.astype(np.float32))
    log_amp = np.log(np.abs(spectrum) + 1e-6).astype(np.float32)
    residual = log_amp - cv2.blur(log_amp, (3, 3))
    back = np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))
    sal = cv2.GaussianBlur((np.abs(back) ** 2).astype(np.float32), (0, 0), 2.5)
    top = float(sal.max())
    return sal / top if top > 0 else sal


def salient_centre(grey: np.ndarray) -> tuple[float, float] | None:
    """Centre of the most salient region, in the frame's pixels; None for a flat frame."""
    if float(grey.std()) < _FLAT_STD:
        return None
    sal = saliency_map(grey)
    mask = sal >= np.percentile(sal, 95)  # the strongest 5 %: the subject, not the texture around it
    m = cv2.moments(mask.astype(np.uint8), binaryImage=True)
    if m["m00"] <= 0:
        return None
    sy, sx = grey.shape[0] / sal.shape[0], grey.shape[1] / sal.shape[1]
    return m["m10"] / m["m00"] * sx, m["m01"] / m["m00"] * sy


def text_box(grey: np.ndarray) -> Box | None:
    """Bounding box of the text lines on a title card or slide; None when the frame shows no block of text.

    Text is dense, high-contrast vertical strokes laid out in horizontal runs: a horizontal gradient,
    thresholded and closed with a wide, flat kernel, joins each line of letters into one bar. Bars that
    are wide and short, and at least two of them (or one very wide one), make a card.
    """
    h, w = grey.shape[:2]
    grad = cv2.morphologyEx(grey, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    _, strokes = cv2.threshold(grad, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    if float(strokes.mean()) / 255.0 > 0.35:  # texture everywhere (foliage, noise): not a card
        return None
    bars = cv2.morphologyEx(strokes, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT,
                                                                                (max(3, w // 40), 1)))
    count, _, stats, _ = cv2.connectedComponentsWithStats(bars, connectivity=8)
    lines = []
    for x, y, bw, bh, area in stats[1:count]:
        fill = area / max(1, bw * bh)
        if bw >= 0.12 * w and 0.015 * h <= bh <= 0.2 * h and bw >= 3 * bh and fill >= 0.3:
            lines.append((x, y, bw, bh))
    if len(lines) < _TEXT_MIN_ROWS and not any(bw >= 0.5 * w for _, _, bw, _ in lines):
        return None
    x0 = min(x for x, _, _, _ in lines)
    y0 = min(y for _, y, _, _ in lines)
    x1 = max(x + bw for x, _, bw, _ in lines)
    y1 = max(y + bh for _, y, _, bh in lines)
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0)


def cut_penalty(seconds_from_cut: float) -> float:
    """What a frame loses as a thumbnail for lying this close to a shot change."""
    return CUT_PENALTY if seconds_from_cut < NEAR_CUT_S else 0.0


@dataclass(frozen=True)
class FrameWorth:
    """How good a frame is as a thumbnail, and why: higher is better."""

    score: float
    sharpness: float  # variance of the Laplacian
    contrast: float  # luma standard deviation
    face_share: float  # largest face's height / frame height (0 without a face)
    near_cut: bool


def thumbnail_worth(grey: np.ndarray, face_heights: tuple[float, ...] = (), seconds_from_cut: float = math.inf,
                    sharpness: float | None = None) -> FrameWorth:
    """A frame's worth as a thumbnail: a face or a sharp subject, never a transition, a blur or an empty frame.

    ``face_heights`` are the heights (px) of the faces found in ``grey``; ``seconds_from_cut`` is the
    distance to the nearest shot change (a dissolve's middle counts): frames within 0.4 s of one are
    half one shot and half the next.
    """
    sharp = float(cv2.Laplacian(grey, cv2.CV_32F).var()) if sharpness is None else float(sharpness)
    contrast = float(grey.std())
    face = max(face_heights, default=0.0) / max(1, grey.shape[0])
    penalty = cut_penalty(seconds_from_cut)
    score = math.log1p(sharp)
    # A face is what viewers click on; a bigger one (up to a third of the height) reads better small.
    score += 3.0 + 6.0 * min(face, 0.33) if face > 0 else 0.0
    if contrast < _FLAT_STD:
        score -= 6.0  # black, white or a fade: nothing to show
    elif contrast < 2 * _FLAT_STD:
        score -= 2.0
    return FrameWorth(score - penalty, sharp, contrast, face, penalty > 0)
