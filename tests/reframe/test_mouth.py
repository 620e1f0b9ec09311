"""Mouth motion per face (analysis): the mouth region's change between two frames, less half the eyes' change."""

import numpy as np

from streamapp.reframe.analysis import _mouth_box, _scaled, mouth_motion
from streamapp.vision.faces import Face

RNG = np.random.default_rng(5)


def frames_with_mouth(moving: Face, still: Face) -> tuple[np.ndarray, np.ndarray]:
    a = RNG.integers(60, 200, size=(240, 426), dtype=np.uint8)
    b = a.copy()
    x0, y0, x1, y1 = _mouth_box(moving)
    b[y0:y1, x0:x1] = 255 - b[y0:y1, x0:x1]  # lips open: the mouth region changes
    return a, b


def test_the_talking_face_moves_its_mouth_and_the_listener_does_not():
    talker, listener = Face(40, 60, 100, 100, 1.0), Face(260, 60, 100, 100, 1.0)
    a, b = frames_with_mouth(talker, listener)
    assert mouth_motion(a, b, talker) > 20.0
    assert mouth_motion(a, b, listener) == 0.0


def test_a_whole_head_move_counts_less_than_the_mouth_alone():
    f = Face(40, 60, 100, 100, 1.0)
    a = RNG.integers(60, 200, size=(240, 426), dtype=np.uint8)
    nod = np.roll(a, 6, axis=0)  # the whole frame shifts: eyes and mouth change alike
    talk = a.copy()
    x0, y0, x1, y1 = _mouth_box(f)
    talk[y0:y1, x0:x1] = nod[y0:y1, x0:x1]
    assert mouth_motion(a, talk, f) > 1.5 * mouth_motion(a, nod, f)


def test_mouth_corners_from_landmarks_place_the_region_and_survive_scaling():
    marks = ((60.0, 80.0), (100.0, 80.0), (80.0, 95.0), (62.0, 118.0), (98.0, 118.0))  # eyes, nose, mouth R/L
    f = Face(40, 60, 80, 100, 1.0, marks)
    x0, y0, x1, y1 = _mouth_box(f)
    assert x0 < 62 and x1 > 98 and y0 < 118 < y1 and y0 < 60 + 0.6 * 100  # a high mouth: above the lower third
    plain = _mouth_box(Face(40, 60, 80, 100, 1.0))  # no landmarks: the lower third of the box
    assert plain[1] >= 60 + 100 * 0.6
    big = _scaled(f, 2.0)
    assert big.landmarks[3] == (124.0, 236.0) and big.w == 160.0
