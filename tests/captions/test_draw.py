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
