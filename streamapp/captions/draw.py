"""Burned-in karaoke captions, drawn straight onto YUV 4:2:0 planes.

Each distinct picture (line, spoken word) is laid out once into a small premultiplied YUV+alpha
patch; per frame only the rows and columns that patch covers are blended, in integer maths.
Glyphs come from a TrueType font through Pillow when both exist, else from OpenCV's Hershey
fonts, so captions never depend on an optional package.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from streamapp.captions.placement import Band, CaptionPlacement, SafeArea
from streamapp.captions.styles import RGB, CaptionStyle
from streamapp.captions.timing import Line
from streamapp.writing import CJK, GREEK, RTL, spaced

_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/local/share/fonts")
_TTF = {"sans-bold": "DejaVuSans-Bold.ttf", "sans": "DejaVuSans.ttf", "serif": "DejaVuSerif-Bold.ttf"}
_HERSHEY = {"sans-bold": cv2.FONT_HERSHEY_DUPLEX, "sans": cv2.FONT_HERSHEY_SIMPLEX, "serif": cv2.FONT_HERSHEY_TRIPLEX}
_WORD_CHARS = re.compile(r"[^\w%$€£]+", re.UNICODE)
# DejaVu draws Latin, Greek, Cyrillic and Arabic; Chinese, Japanese and Korean words need a CJK font
# (Debian's fonts-noto-cjk). Face 2 of the collection is Simplified Chinese, whose glyphs cover the others' words.
_CJK_TTC = {"sans-bold": "NotoSansCJK-Bold.ttc", "sans": "NotoSansCJK-Regular.ttc", "serif": "NotoSerifCJK-Bold.ttc"}
_CJK_DIRS = ("/usr/share/fonts/opentype/noto", "/usr/share/fonts/noto-cjk", "/usr/local/share/fonts")
_CJK_FACE = 2


def _font_file(name: str, folders: tuple[str, ...]) -> str | None:
    for d in folders:
        path = os.path.join(d, name)
        if os.path.exists(path):
            return path
    return None


def _ttf_path(font: str) -> str | None:
    return _font_file(_TTF.get(font, _TTF["sans-bold"]), _FONT_DIRS)


def _cjk_path(font: str) -> str | None:
    return _font_file(_CJK_TTC.get(font, _CJK_TTC["sans-bold"]), _CJK_DIRS)


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
        self.cjk_path = _cjk_path(font) if self.ttf else None
        self.face = _HERSHEY.get(font, cv2.FONT_HERSHEY_DUPLEX)

    @property
    def backend(self) -> str:
        return "truetype" if self.ttf else "hershey"

    @lru_cache(maxsize=64)  # noqa: B019  (one _Glyphs per renderer; the cache dies with it)
    def _pil_font(self, px: int):  # type: ignore[no-untyped-def]
        module, path = self.ttf  # type: ignore[misc]
        return module.truetype(path, px)

    @lru_cache(maxsize=64)  # noqa: B019
    def _cjk_font(self, px: int):  # type: ignore[no-untyped-def]
        """The CJK face at the size whose ascent + descent fit the main font's line (shared baseline)."""
        module, _ = self.ttf  # type: ignore[misc]
        asc, desc = self._pil_font(px).getmetrics()
        probe = module.truetype(self.cjk_path, px, index=_CJK_FACE)
        c_asc, c_desc = probe.getmetrics()
        size = max(1, int(px * min(1.0, (asc + desc) / max(1, c_asc + c_desc))))
        return module.truetype(self.cjk_path, size, index=_CJK_FACE)

    def _font_for(self, text: str, px: int):  # type: ignore[no-untyped-def]
        if self.cjk_path and CJK.search(text):
            return self._cjk_font(px)
        return self._pil_font(px)

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
            return float(self._font_for(text, px).getlength(text))
        scale, thick = self._hershey(px)
        return float(cv2.getTextSize(text, self.face, scale, thick)[0][0])

    def masks(self, text: str, px: int, stroke: int, pad: int) -> tuple[np.ndarray, np.ndarray]:
        """uint8 masks of size (pad + ascent + descent + pad, pad + width + pad); baseline at pad + ascent."""
        asc, desc = self.metrics(px)
        w = int(np.ceil(self.width(text, px))) + 2 * pad
        h = asc + desc + 2 * pad
        if self.ttf:
            from PIL import Image, ImageDraw

            font = self._font_for(text, px)
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
    """Premultiplied YUV + alpha (0..256) for a line's box; chroma at half resolution. Placed at blend time."""

    alpha: np.ndarray
    luma: np.ndarray
    alpha_c: np.ndarray
    u: np.ndarray
    v: np.ndarray


@dataclass(frozen=True)
class _Layout:
    """A line's geometry: glyph size, word spacing, text width and the (even) box around it."""

    px: int
    space: float
    total: float
    asc: int
    desc: int
    stroke: int
    pad: int
    w: int
    h: int


def _blend(plane: np.ndarray, x: int, y: int, alpha: np.ndarray, pre: np.ndarray) -> None:
    if x < 0 or y < 0:  # a patch wider than the frame: clip it, never wrap around
        alpha, pre = alpha[max(0, -y) :, max(0, -x) :], pre[max(0, -y) :, max(0, -x) :]
        x, y = max(0, x), max(0, y)
    h, w = alpha.shape
    region = plane[y : y + h, x : x + w]
    h, w = region.shape  # the patch may hang off the frame's edge
    acc = region.astype(np.uint16)
    acc *= 256 - alpha[:h, :w]
    acc += pre[:h, :w]
    acc >>= 8
    region[...] = acc


def _upper(word: str) -> str:
    """Upper case as typesetters write it: Greek capitals drop their accents (tonos), unlike str.upper()."""
    up = word.upper()
    if not GREEK.search(up):
        return up
    return unicodedata.normalize("NFC", "".join(c for c in unicodedata.normalize("NFD", up) if c not in "\u0301\u0344"))


def _gaps(words: Sequence[str], space: float) -> list[float]:
    """The space after each word but the last: none between two CJK words (those scripts use no spaces;
    Whisper splits their sentences into words anyway)."""
    pairs = zip(words, words[1:], strict=False)
    return [space if spaced(a, b) else 0.0 for a, b in pairs]


def _norm(word: str) -> str:
    return _WORD_CHARS.sub("", word).lower()


class CaptionBurner:
    """Draws the caption line active at clip time ``t`` onto an output frame's Y, U, V planes.

    Lines go in the platform-safe area (see ``placement``). With ``faces_at`` (face boxes in output
    pixels at clip time t) and ``shots`` (clip-time (start, end) of each shot), each shot gets one
    band clear of the faces seen in it; a line spanning a cut moves to the next shot's band at the
    cut (the picture changes there anyway, and the new shot's faces stay clear). Without them every
    line sits at ``style.position``, clamped into the safe area. Lines are centred in the safe width
    at their height (left of the icon column when low in the frame).
    """

    def __init__(
        self,
        lines: Sequence[Line],
        style: CaptionStyle,
        out_w: int,
        out_h: int,
        keywords: Iterable[str] = (),
        *,
        faces_at: Callable[[float], Sequence[tuple[float, float, float, float]]] | None = None,
        shots: Sequence[tuple[float, float]] | None = None,
    ) -> None:
        self.lines = list(lines)
        self.style = style
        self.out_w, self.out_h = out_w, out_h
        self.glyphs = _Glyphs(style.font)
        self.px = max(8, int(round(style.size * min(out_w, out_h))))
        self.keywords = {_norm(k) for k in keywords if _norm(k)}
        self.safe_area = SafeArea(out_w, out_h)
        self._faces_at = faces_at
        self._shots = list(shots) if shots is not None else None
        self._placement: CaptionPlacement | None = None
        self._cache: dict[tuple[int, int], _Patch | None] = {}
        self._layouts: dict[int, _Layout] = {}
        self._masks_cache: dict[tuple[str, int, int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._starts = np.array([ln.start for ln in self.lines]) if self.lines else np.zeros(0)

    def _masks(self, word: str, px: int, stroke: int, pad: int) -> tuple[np.ndarray, np.ndarray]:
        # A line is drawn once per spoken word: rasterise each word once, not once per state.
        key = (word, px, stroke, pad)
        if key not in self._masks_cache:
            self._masks_cache[key] = self.glyphs.masks(word, px, stroke, pad)
        return self._masks_cache[key]

    def text(self, word: str) -> str:
        return _upper(word) if self.style.uppercase else word

    def measure(self, text: str) -> float:
        """Width in output pixels of ``text`` at the style's size (for line breaking)."""
        return self.glyphs.width(self.text(text), self.px)

    def _pad(self, px: int) -> tuple[int, int]:
        """(stroke, pad) in pixels around the text at size ``px``."""
        stroke = int(round(self.style.stroke_width * px)) if self.style.stroke is not None else 0
        return stroke, stroke + max(4, px // 4)

    @property
    def band_height(self) -> int:
        """Height of a line's box at the style's size (lines shrunk to fit are shorter): the band height."""
        asc, desc = self.glyphs.metrics(self.px)
        h = asc + desc + 2 * self._pad(self.px)[1]
        return h + h % 2

    @property
    def max_line_width(self) -> float:
        """Widest text a line may have (for ``group_lines``): the style's width, and the box around the
        text inside the narrowest safe width (beside the icon column), so any line fits any band."""
        return float(min(self.style.max_width * self.out_w, self.safe_area.narrowest - 2 * self._pad(self.px)[1]))

    @property
    def placement(self) -> CaptionPlacement:
        """Per-shot caption bands (computed on first use: faces are sampled once per burner)."""
        if self._placement is None:
            shots = self._shots
            if self._faces_at is None:
                shots = None  # nothing to avoid: every line at the (clamped) style position
            elif not shots:  # faces but no cuts: the whole clip is one shot
                shots = [(0.0, max((ln.end for ln in self.lines), default=0.0))]
            self._placement = CaptionPlacement(self.out_w, self.out_h, self.band_height, shots, self._faces_at,
                                               self.style.position)
        return self._placement

    def _layout(self, line_idx: int) -> _Layout:
        if line_idx in self._layouts:
            return self._layouts[line_idx]
        words = [self.text(w.text) for w in self.lines[line_idx].words]
        limit = self.max_line_width

        def measure(px: int) -> tuple[float, float]:
            space = self.glyphs.width(" ", px)
            return space, sum(self.glyphs.width(w, px) for w in words) + sum(_gaps(words, space))

        px = self.px
        space, total = measure(px)
        if total > limit:  # one long word: shrink this line rather than overflow
            px = max(8, int(px * limit / total))
            space, total = measure(px)
            while total > limit and px > 8:
                px -= 1
                space, total = measure(px)
        asc, desc = self.glyphs.metrics(px)
        stroke, pad = self._pad(px)
        w = int(np.ceil(total)) + 2 * pad
        h = asc + desc + 2 * pad
        out = _Layout(px, space, total, asc, desc, stroke, pad, w + w % 2, h + h % 2)
        self._layouts[line_idx] = out
        return out

    def _position(self, lay: _Layout, band: Band) -> tuple[int, int]:
        """Top-left of a line's box in a band: centred in the band's safe width and height, even."""
        if lay.w <= band.width:
            x = min(max(int(band.centre_x - lay.w / 2) // 2 * 2, band.x0), band.x1 - lay.w)
        else:
            x = int((self.out_w - lay.w) / 2) // 2 * 2
        y = band.y + max(0, (band.h - lay.h) // 2) // 2 * 2
        y = min(max(0, y), max(0, self.out_h - lay.h) // 2 * 2)
        return x, y

    def line_boxes(self) -> list[tuple[float, float, tuple[int, int, int, int]]]:
        """(start, end, (x, y, w, h)) in output pixels of every caption box drawn, in time order.

        A line gets one entry per shot it shows in (it moves at a cut when the bands differ). The box
        is the whole patch (text, stroke and padding): no pixel outside it is touched.
        """
        out = []
        for i, ln in enumerate(self.lines):
            lay = self._layout(i)
            for a, b, band in self.placement.segments(ln.start, ln.end):
                x, y = self._position(lay, band)
                out.append((a, b, (x, y, lay.w, lay.h)))
        return out

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
        px, py = self._position(self._layout(state[0]), self.placement.band_at(t))
        _blend(y, px, py, patch.alpha, patch.luma)
        cx, cy = px // 2, py // 2
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
        lay = self._layout(line_idx)
        px, space, asc, desc, stroke, pad = lay.px, lay.space, lay.asc, lay.desc, lay.stroke, lay.pad
        band_w, band_h = lay.w, lay.h
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
        for w, gap in zip(words, [*_gaps(words, space), 0.0], strict=True):
            xs.append(int(round(x)))
            x += self.glyphs.width(w, px) + gap
        if RTL.search("".join(words)):  # Arabic, Hebrew: the first word is read, so placed, rightmost
            right = 2 * pad + lay.total
            xs = [int(round(right - xi - self.glyphs.width(w, px))) for xi, w in zip(xs, words, strict=True)]
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
        return _Patch(
            alpha=a256.astype(np.uint16),
            luma=np.round(yuv[..., 0] * alpha * 256.0).astype(np.uint16),
            alpha_c=np.round(a_c * 256.0).astype(np.uint16),
            u=np.round(pre_u * 256.0).astype(np.uint16),
            v=np.round(pre_v * 256.0).astype(np.uint16),
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
