import numpy as np
import pytest

from streamapp.reframe.borders import Area, picture_area, shifted
from streamapp.reframe.path import Sample
from streamapp.vision.faces import Face


def peaks(n: int, lead: int, trail: int, picture: float = 200.0, black: float = 16.0) -> np.ndarray:
    out = np.full(n, picture)
    out[:lead] = black
    out[n - trail :] = black
    return out


def test_a_letterbox_is_cut_away_with_a_row_to_spare():
    # 240 rows of a downscaled 1080-high frame: 24 black rows above and below (a 2.39:1 film in 16:9 is ~12 %)
    area = picture_area(peaks(240, 24, 24), peaks(427, 0, 0), 1920, 1080)
    assert area.x == 0 and area.w == 1920
    assert area.y == 114 and area.h == 1080 - 2 * 114  # (24 + 1) / 240 of 1080, even
    assert all(v % 2 == 0 for v in (area.x, area.y, area.w, area.h))


def test_a_pillarbox_is_cut_away():
    area = picture_area(peaks(240, 0, 0), peaks(320, 40, 41), 1280, 960)
    assert (area.y, area.h) == (0, 960) and area.x == 164 and 1280 - area.x - area.w in (164, 168)


@pytest.mark.parametrize(("lead", "trail", "why"), [
    (40, 0, "dark sky above only: not centred"),
    (2, 2, "an encoder's edge line: too thin"),
    (70, 70, "over a quarter each side: a dark picture"),
    (240, 0, "a black clip: no picture"),
    (0, 0, "no border"),
])
def test_what_is_not_a_border_keeps_the_whole_frame(lead, trail, why):
    assert picture_area(peaks(240, lead, trail), peaks(427, 0, 0), 1920, 1080) == Area.whole(1920, 1080), why


def test_samples_and_planes_move_into_the_area():
    area = Area(10, 20, 100, 60)
    face = Face(50.0, 60.0, 20.0, 20.0, 0.9, ((55.0, 65.0),))
    sample = shifted(Sample(1.0, (face,), motion=(30.0, 40.0), salient=None, text=(12.0, 22.0, 5.0, 5.0)), area)
    assert (sample.faces[0].x, sample.faces[0].y, sample.faces[0].landmarks) == (40.0, 40.0, ((45.0, 45.0),))
    assert sample.motion == (20.0, 20.0) and sample.salient is None and sample.text == (2.0, 2.0, 5.0, 5.0)
    y, u, v = np.zeros((120, 160)), np.zeros((60, 80)), np.zeros((60, 80))
    assert [p.shape for p in area.planes([y, u, v])] == [(60, 100), (30, 50), (30, 50)]
    assert area.in_source([{"t_s": 0.0, "x": 4, "y": 0, "w": 34, "h": 60}]) == [
        {"t_s": 0.0, "x": 14, "y": 20, "w": 34, "h": 60}]
