"""Burned-in karaoke captions, drawn straight onto YUV 4:2:0 planes.

Each distinct picture (line, spoken word) is laid out once into a small premultiplied YUV+alpha
patch; per frame only the rows and columns that patch covers are blended, in integer maths.
Glyphs come from a TrueType font through Pillow when both exist, else from OpenCV's Hershey
fonts, so captions never depend on an optional package.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from streamapp.captions.styles import RGB, CaptionStyle
from streamapp.captions.timing import Line

_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/local/share/fonts")
_TTF = {"sans-bold": "DejaVuSans-Bold.ttf", "sans": "DejaVuSans.ttf", "serif": "DejaVuSerif-Bold.ttf"}
_HERSHEY = {"sans-bold": cv2.FONT_HERSHEY_DUPLEX, "sans": cv2.FONT_HERSHEY_SIMPLEX, "serif": cv2.FONT_HERSHEY_TRIPLEX}
_WORD_CHARS = re.compile(r"[^\w%$€£]+", re.UNICODE)


def _ttf_path(font: str) -> str | None:
    name = _TTF.get(font, _TTF["sans-bold"])
    for d in _FONT_DIRS:
        path = os.path.join(d, name)
        if os.path.exists(path):
            return path
    return None


class _Glyphs:
    """Measures and rasterises single words at a pixel size: (fill mask, stroke mask), shared baseline."""

    def __init__(self, font: str) -> None:
        self.font = font
        self.ttf = None
        path = _ttf_path(font)
        if path is not None:
            try:
                from PIL import ImageFont  # optional: nicer glyphs when installed

                self.ttf = (ImageFont, path)
            except ImportError:
                self.ttf = None
        self.face = _HERSHEY.get(font, cv2.FONT_HERSHEY_DUPLEX)

    @property
    def backend(self) -> str:
        return "truetype" if self.ttf else "hershey"

    @lru_cache(maxsize=64)  # noqa: B019  (one _Glyphs per renderer; the cache dies with it)
    def _pil_font(self, px: int):  # type: ignore[no-untyped-def]
        module, path = self.ttf  # type: ignore[misc]
        return module.truetype(path, px)

    def _hershey(self, px: int) -> tuple[float, int]:
        thick = max(1, int(round(px / (9 if self.font == "sans-bold" else 14))))
        return cv2.getFontScaleFromHeight(self.face, px, thick), thick

    def metrics(self, px: int) -> tuple[int, int]:
        """(ascent, descent) in pixels."""
        if self.ttf:
            return self._pil_font(px).getmetrics()
        scale, thick = self._hershey(px)
        (_, h), base = cv2.getTextSize("Hg", self.face, scale, thick)
        return h + thick, base + thick

    def width(self, text: str, px: int) -> float:
        if self.ttf:
            return float(self._pil_font(px).getlength(text))
        scale, thick = self._hershey(px)
        return float(cv2.getTextSize(text, self.face, scale, thick)[0][0])

    def masks(self, text: str, px: int, stroke: int, pad: int) -> tuple[np.ndarray, np.ndarray]:
        """uint8 masks of size (pad + ascent + descent + pad, pad + width + pad); baseline at pad + ascent."""
        asc, desc = self.metrics(px)
        w = int(np.ceil(self.width(text, px))) + 2 * pad
        h = asc + desc + 2 * pad
        if self.ttf:
            from PIL import Image, ImageDraw

            font = self._pil_font(px)
            out = []
            for s in (0, stroke):
                img = Image.new("L", (w, h), 0)
                ImageDraw.Draw(img).text((pad, pad + asc), text, font=font, fill=255, anchor="ls",
                                         stroke_width=s, stroke_fill=255)
                out.append(np.asarray(img))
            return out[0], out[1]
        scale, thick = self._hershey(px)
        fill = np.zeros((h, w), np.uint8)
        cv2.putText(fill, text, (pad, pad + asc), self.face, scale, 255, thick, cv2.LINE_AA)
        outline = np.zeros((h, w), np.uint8)
        if stroke > 0:
            cv2.putText(outline, text, (pad, pad + asc), self.face, scale, 255, thick + 2 * stroke, cv2.LINE_AA)
        return fill, outline


def _rgb_to_yuv(rgb: np.ndarray) -> np.ndarray:
    """BT.709 limited range, rgb in 0..1 (last axis), result on the 0..255 scale."""
    m = np.array([[0.2126, 0.7152, 0.0722], [-0.1146, -0.3854, 0.5], [0.5, -0.4542, -0.0458]], np.float32)
    yuv = rgb @ m.T
    return yuv * np.array([219.0, 224.0, 224.0], np.float32) + np.array([16.0, 128.0, 128.0], np.float32)


@dataclass
class _Patch:
    """Premultiplied YUV + alpha (0..256) for a region; chroma at half resolution."""

    x: int
    y: int
    alpha: np.ndarray
    luma: np.ndarray
    alpha_c: np.ndarray
    u: np.ndarray
    v: np.ndarray


def _blend(plane: np.ndarray, x: int, y: int, alpha: np.ndarray, pre: np.ndarray) -> None:
    h, w = alpha.shape
    region = plane[y : y + h, x : x + w]
    h, w = region.shape  # the patch may hang off the frame's edge
    acc = region.astype(np.uint16)
    acc *= 256 - alpha[:h, :w]
    acc += pre[:h, :w]
    acc >>= 8
    region[...] = acc


def _norm(word: str) -> str:
    return _WORD_CHARS.sub("", word).lower()


class CaptionBurner:
    """Draws the caption line active at clip time ``t`` onto an output frame's Y, U, V planes."""

    def __init__(
        self,
        lines: Sequence[Line],
        style: CaptionStyle,
        out_w: int,
        out_h: int,
        keywords: Iterable[str] = (),
    ) -> None:
        self.lines = list(lines)
        self.style = style
        self.out_w, self.out_h = out_w, out_h
        self.glyphs = _Glyphs(style.font)
        self.px = max(8, int(round(style.size * min(out_w, out_h))))
        self.keywords = {_norm(k) for k in keywords if _norm(k)}
        self._cache: dict[tuple[int, int], _Patch | None] = {}
        self._masks_cache: dict[tuple[str, int, int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._starts = np.array([ln.start for ln in self.lines]) if self.lines else np.zeros(0)

    def _masks(self, word: str, px: int, stroke: int, pad: int) -> tuple[np.ndarray, np.ndarray]:
        # A line is drawn once per spoken word: rasterise each word once, not once per state.
        key = (word, px, stroke, pad)
        if key not in self._masks_cache:
            self._masks_cache[key] = self.glyphs.masks(word, px, stroke, pad)
        return self._masks_cache[key]

    def text(self, word: str) -> str:
        return word.upper() if self.style.uppercase else word

    def measure(self, text: str) -> float:
        """Width in output pixels of ``text`` at the style's size (for line breaking)."""
        return self.glyphs.width(self.text(text), self.px)

    @property
    def max_line_width(self) -> float:
        return self.style.max_width * self.out_w

    def state_at(self, t: float) -> tuple[int, int] | None:
        """(line index, spoken word index) at clip time ``t``, None between lines."""
        i = int(np.searchsorted(self._starts, t, side="right")) - 1
        if i < 0 or t >= self.lines[i].end:
            return None
        words = self.lines[i].words
        k = 0
        while k + 1 < len(words) and words[k + 1].start <= t:
            k += 1
        return i, k

    def draw(self, t: float, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> bool:
        """Blend the caption for ``t`` into the planes (views of the output frame); False if none shows."""
        state = self.state_at(t)
        if state is None:
            return False
        if state not in self._cache:
            self._cache[state] = self._patch(*state)
        patch = self._cache[state]
        if patch is None:
            return False
        _blend(y, patch.x, patch.y, patch.alpha, patch.luma)
        cx, cy = patch.x // 2, patch.y // 2
        _blend(u, cx, cy, patch.alpha_c, patch.u)
        _blend(v, cx, cy, patch.alpha_c, patch.v)
        return True

    def _colour(self, word: str, active: bool) -> RGB:
        s = self.style
        if active and s.highlight is not None:
            return s.highlight
        if s.emphasis is not None and (_norm(word) in self.keywords or any(c.isdigit() for c in word)):
            return s.emphasis
        return s.color

    def _patch(self, line_idx: int, active: int) -> _Patch | None:
        s = self.style
        words = [self.text(w.text) for w in self.lines[line_idx].words]
        px = self.px
        space = self.glyphs.width(" ", px)
        total = sum(self.glyphs.width(w, px) for w in words) + space * (len(words) - 1)
        if total > self.max_line_width:  # one long word: shrink this line rather than overflow
            px = max(8, int(px * self.max_line_width / total))
            space = self.glyphs.width(" ", px)
            total = sum(self.glyphs.width(w, px) for w in words) + space * (len(words) - 1)
        asc, desc = self.glyphs.metrics(px)
        stroke = int(round(s.stroke_width * px)) if s.stroke is not None else 0
        pad = stroke + max(4, px // 4)
        band_w = int(np.ceil(total)) + 2 * pad
        band_h = asc + desc + 2 * pad
        band_w += band_w % 2
        band_h += band_h % 2
        x0 = int((self.out_w - band_w) / 2) // 2 * 2
        y0 = int(s.position * self.out_h - band_h / 2) // 2 * 2
        y0 = min(max(0, y0), max(0, self.out_h - band_h) // 2 * 2)
        prem = np.zeros((band_h, band_w, 3), np.float32)  # premultiplied rgb, 0..1
        alpha = np.zeros((band_h, band_w), np.float32)

        def over(mask: np.ndarray, colour: RGB, ox: int, oy: int, opacity: float = 1.0) -> None:
            h, w = mask.shape
            h, w = min(h, band_h - oy), min(w, band_w - ox)
            m = mask[:h, :w].astype(np.float32) * (opacity / 255.0)
            c = np.array(colour, np.float32) / 255.0
            reg_p, reg_a = prem[oy : oy + h, ox : ox + w], alpha[oy : oy + h, ox : ox + w]
            reg_p *= (1.0 - m)[..., None]
            reg_p += m[..., None] * c
            reg_a *= 1.0 - m
            reg_a += m

        radius = max(2, px // 5)
        if s.box is not None:
            box = np.zeros((band_h, band_w), np.uint8)
            _rounded(box, 0, 0, band_w, band_h, radius)
            over(box, s.box, 0, 0, s.box_opacity)
        xs = []
        x = float(pad)
        for w in words:
            xs.append(int(round(x)))
            x += self.glyphs.width(w, px) + space
        if s.highlight_box is not None:
            box = np.zeros((band_h, band_w), np.uint8)
            wx = xs[active]
            ww = int(np.ceil(self.glyphs.width(words[active], px)))
            m = max(2, px // 6)
            _rounded(box, wx - m, pad - m // 2, ww + 2 * m, asc + desc + m, radius)
            over(box, s.highlight_box, 0, 0)
        masks = [self._masks(w, px, stroke, pad) for w in words]
        if s.stroke is not None and stroke > 0:
            for (_, outline), wx in zip(masks, xs, strict=True):
                over(outline, s.stroke, wx - pad, 0)
        for i, ((fill, _), wx) in enumerate(zip(masks, xs, strict=True)):
            over(fill, self._colour(self.lines[line_idx].words[i].text, i == active), wx - pad, 0)
        if float(alpha.max()) <= 0:
            return None
        yuv = _rgb_to_yuv(np.divide(prem, np.maximum(alpha, 1e-6)[..., None]))
        a256 = np.round(alpha * 256.0)
        half = (band_w // 2, band_h // 2)
        # Chroma: average the premultiplied values over each 2x2 block, as the encoder's 4:2:0 does.
        a_c = cv2.resize(alpha, half, interpolation=cv2.INTER_AREA)
        pre_u = cv2.resize(yuv[..., 1] * alpha, half, interpolation=cv2.INTER_AREA)
        pre_v = cv2.resize(yuv[..., 2] * alpha, half, interpolation=cv2.INTER_AREA)
        # Crop the patch to the frame (a caption wider than the frame is clipped, not wrapped around).
        x_cut = max(0, -x0)
        x0 = max(0, x0)
        return _Patch(
            x=x0,
            y=y0,
            alpha=a256[:, x_cut:].astype(np.uint16),
            luma=np.round(yuv[..., 0] * alpha * 256.0)[:, x_cut:].astype(np.uint16),
            alpha_c=np.round(a_c * 256.0)[:, x_cut // 2 :].astype(np.uint16),
            u=np.round(pre_u * 256.0)[:, x_cut // 2 :].astype(np.uint16),
            v=np.round(pre_v * 256.0)[:, x_cut // 2 :].astype(np.uint16),
        )


def _rounded(mask: np.ndarray, x: int, y: int, w: int, h: int, r: int) -> None:
    """Fill a rounded rectangle into ``mask`` (255)."""
    r = max(0, min(r, w // 2, h // 2))
    cv2.rectangle(mask, (x + r, y), (x + w - 1 - r, y + h - 1), 255, -1)
    cv2.rectangle(mask, (x, y + r), (x + w - 1, y + h - 1 - r), 255, -1)
    for cx, cy in ((x + r, y + r), (x + w - 1 - r, y + r), (x + r, y + h - 1 - r), (x + w - 1 - r, y + h - 1 - r)):
        cv2.circle(mask, (cx, cy), r, 255, -1, cv2.LINE_AA)


def glyph_backend(style: CaptionStyle) -> str:
    """"truetype" or "hershey": which glyphs a style will be drawn with on this machine."""
    return _Glyphs(style.font).backend
