import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from streamapp.captions import placement as pl
from streamapp.captions.placement import CaptionPlacement, SafeArea, default_band, place_band, place_shots

W, H = 1080, 1920
BAND = 180  # about one bold line at 1080x1920


def hits(a, b):
    """Two (x, y, w, h) rectangles share some area."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def safe_right(y, bh, w=W, h=H):
    """Right edge of the safe area for rows y .. y+bh, from the published fractions (not SafeArea)."""
    return w * (1 - pl.ICON_COLUMN_W) if y + bh > pl.ICON_COLUMN_TOP * h else w * (1 - pl.SAFE_SIDE)


def in_safe_area(box, w=W, h=H):
    x, y, bw, bh = box
    right = safe_right(y, bh, w, h)
    return (y >= pl.SAFE_TOP * h - 1e-9 and y + bh <= (1 - pl.SAFE_BOTTOM) * h + 1e-9
            and x >= pl.SAFE_SIDE * w - 1e-9 and x + bw <= right + 1e-9)


def test_safe_area_numbers():
    a = SafeArea(W, H)
    # 1080x1920: top bar, bottom description row, right icon column, as named constants.
    assert (a.top, a.bottom, a.left, a.right) == (154, 1612, 66, 1014)
    assert a.icon_left == 928 and a.icon_top == 864
    assert a.narrowest == 928 - 66
    assert a.x_range(a.icon_top - 100, 100) == (66, 1014)  # above the icons: full safe width
    assert a.x_range(a.icon_top - 100, 102) == (66, 928)  # reaching them: left of the column


def test_no_faces_gives_the_style_position_inside_the_safe_area():
    for position in (0.70, 0.78, 0.82, 0.95, 0.0):
        band = place_band(W, H, BAND, [], position)
        assert band == default_band(W, H, BAND, position)
        assert in_safe_area(band.box)
        assert not band.covers_face
    band = place_band(W, H, BAND, [], 0.70)
    assert abs(band.y + BAND / 2 - 0.70 * H) <= 2  # unclamped when already safe
    low = place_band(W, H, BAND, [], 0.95)
    assert low.y + low.h == SafeArea(W, H).bottom  # clamped above the platform's description row
    assert low.x1 == SafeArea(W, H).icon_left  # and left of the icon column


def test_close_up_band_goes_below_the_chin_when_there_is_room():
    face = (330, 560, 420, 520)  # brows at 560, chin at 1080: mouth around 0.52 H
    band = place_band(W, H, BAND, [face])
    assert not hits(band.box, face)
    assert band.y >= face[1] + face[3]  # below the chin
    assert in_safe_area(band.box)


def test_close_up_without_room_below_goes_above_the_head():
    face = (280, 760, 520, 700)  # chin at 1460: no room for a band above the 1612 px safe bottom
    band = place_band(W, H, BAND, [face])
    assert not hits(band.box, face)
    assert band.y + band.h <= face[1]  # above the brows ...
    assert band.y + band.h <= face[1] - pl.HEAD_ROOM * face[3] * 0.9  # ... and above the hair, room allowing
    assert in_safe_area(band.box)


def test_face_low_in_the_frame_puts_the_band_above():
    face = (380, 1150, 320, 380)
    band = place_band(W, H, BAND, [face])
    assert not hits(band.box, face) and band.y + band.h <= face[1]
    assert in_safe_area(band.box)


def test_split_screen_two_stacked_faces():
    top, bottom = (380, 160, 320, 420), (380, 1120, 320, 420)
    band = place_band(W, H, BAND, [top, bottom])
    assert not hits(band.box, top) and not hits(band.box, bottom)
    assert top[1] + top[3] <= band.y and band.y + band.h <= bottom[1]  # between them
    assert in_safe_area(band.box)


def test_a_face_off_to_the_side_does_not_move_the_band():
    face = (0, 1250, 40, 100)  # left of the safe width, beside the home band
    assert place_band(W, H, BAND, [face]) == default_band(W, H, BAND, 0.70)


def test_face_filling_the_frame_takes_the_least_covering_spot_at_the_top():
    face = (-50, 80, 1180, 1800)
    band = place_band(W, H, BAND, [face])
    assert band.covers_face
    assert band.y == SafeArea(W, H).top  # over the brows / forehead, not the mouth
    assert in_safe_area(band.box)


def test_band_is_fixed_within_a_shot_and_clears_every_sample():
    def faces_at(t):  # a face drifting down through the shot
        return [(360, 300 + 100 * t, 360, 420)]

    (band,) = place_shots(W, H, BAND, [(0.0, 4.0)], faces_at)
    for k in range(17):
        assert not hits(band.box, faces_at(k * 0.25)[0])


def test_band_changes_at_the_shot_boundary_only():
    def faces_at(t):  # shot 1: face high (band at home); shot 2: face low (band must move up)
        return [(360, 400, 360, 420)] if t < 3.0 else [(340, 1050, 400, 500)]

    p = CaptionPlacement(W, H, BAND, [(0.0, 3.0), (3.0, 6.0)], faces_at)
    first, second = p.bands
    assert first != second
    for k in range(60):
        t = k * 0.1
        band = p.band_at(t)
        assert band == (first if t < 3.0 else second)
        assert not hits(band.box, faces_at(t)[0])
    assert [(a, b) for a, b, _ in p.segments(2.0, 4.0)] == [(2.0, 3.0), (3.0, 4.0)]
    assert len(p.segments(0.5, 2.5)) == 1


def test_band_stays_put_between_shots_when_home_is_blocked_but_the_old_spot_is_clear():
    face_a = (340, 1050, 400, 500)  # blocks home: band goes above
    face_b = (340, 1080, 400, 480)  # still blocks home; the first shot's spot is still clear

    def faces_at(t):
        return [face_a] if t < 2 else [face_b]

    a, b = place_shots(W, H, BAND, [(0, 2), (2, 4)], faces_at)
    assert a.y == b.y and not hits(b.box, face_b)
    assert place_band(W, H, BAND, [face_b]).y != a.y  # alone, shot 2 would have picked another spot


def test_shots_are_sampled_every_quarter_second():
    seen = []
    place_shots(W, H, BAND, [(1.0, 2.0), (2.0, 2.1)], lambda t: seen.append(t) or [])
    assert seen == pytest.approx([1.0, 1.25, 1.5, 1.75, 2.0])


SIZES = [(1080, 1920), (720, 1280), (360, 640), (1080, 1080), (1920, 1080)]


@settings(max_examples=300, deadline=None)
@given(
    size=st.sampled_from(SIZES),
    band_frac=st.floats(0.03, 0.12),
    fx=st.floats(-0.2, 1.0),
    fy=st.floats(-0.2, 1.0),
    fw=st.floats(0.02, 1.2),
    fh=st.floats(0.02, 1.2),
    position=st.floats(0.0, 1.0),
)
@example(size=(1080, 1920), band_frac=0.0625, fx=0.859375, fy=0.0, fw=1.0, fh=1.0, position=0.0)  # beside the icons
@example(size=(360, 640), band_frac=0.1, fx=0.0, fy=0.05, fw=1.0, fh=0.9, position=0.7)  # fills the frame
def test_property_single_face(size, band_frac, fx, fy, fw, fh, position):
    w, h = size
    band_h = int(band_frac * h) // 2 * 2
    face = (fx * w, fy * h, fw * w, fh * h)
    band = place_band(w, h, band_h, [face], position)
    assert band.h == band_h
    assert in_safe_area(band.box, w, h)
    # Is there a clear full-width band at any even top inside the safe area (bands are even-aligned for 4:2:0)?
    left = pl.SAFE_SIDE * w
    tops = range(int(pl.SAFE_TOP * h) // 2 * 2, int((1 - pl.SAFE_BOTTOM) * h) - band_h + 1, 2)
    clear_exists = any(
        in_safe_area((left, y, safe_right(y, band_h, w, h) - left, band_h), w, h)
        and not hits((left, y, safe_right(y, band_h, w, h) - left, band_h), face)
        for y in tops
    )
    if clear_exists:
        assert not hits(band.box, face)
    assert band.covers_face == hits(band.box, face)
