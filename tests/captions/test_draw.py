import numpy as np
import pytest

import streamapp.captions.draw as draw
from streamapp.captions import PRESETS, CaptionBurner, clip_words, group_lines

W, H = 360, 640


def planes():
    return (np.full((H, W), 60, np.uint8), np.full((H // 2, W // 2), 128, np.uint8),
            np.full((H // 2, W // 2), 128, np.uint8))


def burner(style="bold", keywords=()):
    words = clip_words([{"start_s": 1.0 + 0.5 * i, "end_s": 1.4 + 0.5 * i, "text": w}
                        for i, w in enumerate(["we", "made", "3", "clips", "today"])], 0.0, 10.0)
    b = CaptionBurner([], PRESETS[style], W, H, keywords)
    return CaptionBurner(group_lines(words, 3, b.measure, b.max_line_width, duration_s=10.0), PRESETS[style], W, H,
                         keywords)


@pytest.mark.parametrize("style", sorted(PRESETS))
def test_caption_draws_only_on_its_band_and_only_while_spoken(style):
    b = burner(style)
    y, u, v = planes()
    assert not b.draw(0.5, y, u, v)  # before the first word
    assert (y == 60).all()
    assert b.draw(1.1, y, u, v)
    rows = np.nonzero((y != 60).any(axis=1))[0]
    centre = PRESETS[style].position * H
    assert rows.min() > centre - 0.2 * H and rows.max() < centre + 0.2 * H
    assert y.max() > 200  # light letters


def test_spoken_word_is_highlighted():
    b = burner("bold")
    frames = []
    for t in (1.1, 1.6):  # first word spoken, then the second
        y, u, v = planes()
        b.draw(t, y, u, v)
        frames.append(u.astype(int))
    # Yellow (low U) moves from the first word to the second: the chroma pictures differ.
    assert np.abs(frames[0] - frames[1]).max() > 30
    assert b.state_at(1.1) == (0, 0) and b.state_at(1.45) == (0, 0) and b.state_at(1.6) == (0, 1)


def test_hershey_fallback_without_truetype(monkeypatch):
    monkeypatch.setattr(draw, "_ttf_path", lambda font: None)
    b = burner("karaoke", keywords=["clips"])
    assert b.glyphs.backend == "hershey"
    y, u, v = planes()
    assert b.draw(2.1, y, u, v)
    assert (y != 60).any()


def test_a_long_word_is_shrunk_to_fit():
    words = clip_words([{"start_s": 0.0, "end_s": 1.0, "text": "supercalifragilisticexpialidocious"}], 0.0, 2.0)
    b = CaptionBurner(group_lines(words), PRESETS["bold"], W, H)
    y, u, v = planes()
    assert b.draw(0.5, y, u, v)
    cols = np.nonzero((y != 60).any(axis=0))[0]
    assert cols.min() > 0 and cols.max() < W - 1


# --- placement: clear of faces, inside the platform-safe area -------------------------------------------------


def spoken(texts, t0=0.0, step=0.5):
    return clip_words([{"start_s": t0 + step * i, "end_s": t0 + step * i + 0.4, "text": w}
                       for i, w in enumerate(texts)], 0.0, 20.0)


def placed_burner(words, style="bold", **kw):
    b = CaptionBurner([], PRESETS[style], W, H, **kw)
    lines = group_lines(words, PRESETS[style].max_words, b.measure, b.max_line_width, duration_s=20.0)
    return CaptionBurner(lines, PRESETS[style], W, H, (), **kw)


def changed(t, b):
    y, u, v = planes()
    assert b.draw(t, y, u, v)
    return y != 60, (u != 128) | (v != 128)


def inside(mask, box, scale=1):
    x, y, w, h = (c // scale for c in box)
    out = mask.copy()
    out[y : y + h, x : x + w] = False
    return mask.any() and not out.any()


def box_at(b, t):
    (box,) = [bx for a, e, bx in b.line_boxes() if a <= t < e]
    return box


def hits(a, b):
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


FACE_MID = (100, 230, 160, 240)  # a close-up: mouth near 0.70 H, where the bold preset would draw


def test_caption_moves_off_the_face_and_draws_only_inside_its_reported_box():
    b = placed_burner(spoken(["we", "made", "three", "clips"]), faces_at=lambda t: [FACE_MID], shots=[(0.0, 20.0)])
    home = placed_burner(spoken(["we", "made", "three", "clips"]))
    assert hits(box_at(home, 0.1), FACE_MID)  # without faces the line would sit on the mouth
    for t in (0.1, 0.6, 1.1):
        box = box_at(b, t)
        assert not hits(box, FACE_MID)
        luma, chroma = changed(t, b)
        assert inside(luma, box) and inside(chroma, box, 2)


def test_a_line_spanning_a_cut_moves_at_the_cut():
    def faces_at(t):  # shot 1: no face; shot 2: a close-up over the home band
        return [] if t < 1.0 else [FACE_MID]

    b = placed_burner(spoken(["one", "two", "three"], step=0.6), faces_at=faces_at, shots=[(0.0, 1.0), (1.0, 5.0)])
    boxes = b.line_boxes()
    assert boxes[0][:2] == (0.0, 1.0) and boxes[1][0] == 1.0 and boxes[0][2] != boxes[1][2]
    for t in (0.1, 0.7, 1.3):
        box = box_at(b, t)
        luma, _ = changed(t, b)
        assert inside(luma, box)
        assert not any(hits(box, f) for f in faces_at(t))
    assert len(b._cache) == 3  # one patch per (line, word): moving does not re-render


@pytest.mark.parametrize("style", sorted(PRESETS))
def test_lines_stay_in_the_safe_area_without_faces(style):
    long_words = spoken(["absolutely", "extraordinary", "performances", "everywhere", "supercalifragilistic"])
    b = placed_burner(long_words, style)
    area = b.safe_area
    assert b.max_line_width <= area.narrowest
    assert b.line_boxes()
    for start, _end, box in b.line_boxes():
        assert area.contains(box), box
        x, y, w, h = box
        assert x + w <= W * 0.87 and y + h <= H * 0.85 and y >= H * 0.07  # icon column, description row, top bar
        luma, chroma = changed(start + 0.01, b)
        assert inside(luma, box) and inside(chroma, box, 2)


def test_style_position_is_clamped_into_the_safe_area():
    from dataclasses import replace

    low = replace(PRESETS["bold"], position=0.97)
    b = CaptionBurner(group_lines(spoken(["hello", "there"])), low, W, H)
    (_, _, (x, y, w, h)), = b.line_boxes()
    assert y + h <= b.safe_area.bottom and x + w <= b.safe_area.icon_left
    luma, _ = changed(0.1, b)
    assert not luma[int(H * 0.85):].any()


@pytest.mark.parametrize("words", [("МАГАЗИН", "ЛАВКА"), ("央視", "播出"), ("مرحبا", "بكم"), ("ΚΑΛΗΜΕΡΑ", "ΦΙΛΟΙ")])
def test_other_scripts_draw_real_glyphs(words):
    """Cyrillic, CJK, Arabic and Greek words come out as glyphs: a missing glyph draws the same empty box
    (tofu) for every character, so two different words would give masks of one repeated pattern."""
    glyphs = draw._Glyphs("sans-bold")
    assert glyphs.backend == "truetype"
    one, two = (glyphs.masks(w, 40, 0, 2)[0] for w in words)
    assert one.max() == 255 and two.max() == 255
    notdef = glyphs.masks("\U000f0000", 40, 0, 2)[0]  # a private-use code point: no font has it
    for mask, word in ((one, words[0]), (two, words[1])):
        w = notdef.shape[1]
        columns = [mask[:, i : i + w] for i in range(0, mask.shape[1] - w, max(1, w // 2))]
        assert not any(c.shape == notdef.shape and np.array_equal(c, notdef) for c in columns), word


def test_right_to_left_lines_place_the_first_word_rightmost():
    said = [{"start_s": 0.0, "end_s": 0.5, "text": "مرحبا"}, {"start_s": 0.5, "end_s": 1.0, "text": "بكم"}]
    words = clip_words(said, 0.0, 1.0)
    burner = CaptionBurner(group_lines(words), PRESETS["bold"], 540, 960)
    first = burner._patch(0, 0)  # first word highlighted
    second = burner._patch(0, 1)
    # The highlight colour moves right-to-left: the highlighted region's centre is further right
    # when the first word is spoken than when the second one is.
    def highlight_x(patch) -> float:
        opaque = patch.alpha_c > 250
        u = np.where(opaque, patch.u.astype(np.float64) / np.maximum(patch.alpha_c, 1), 128.0)
        cols = np.nonzero((u < 60).any(axis=0))[0]  # yellow's U is far below grey's 128
        return float(cols.mean())

    assert highlight_x(first) > highlight_x(second)


def test_cjk_words_are_not_spaced_and_greek_capitals_drop_accents():
    assert draw._gaps(["這兩天", "央視", "word", "next"], 10.0) == [0.0, 10.0, 10.0]
    assert draw._upper("φίλοι") == "ΦΙΛΟΙ" and draw._upper("café") == "CAFÉ"
