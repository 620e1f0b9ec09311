import cv2
import numpy as np
import pytest

from streamapp.reframe.content import salient_centre, text_box, thumbnail_worth


def _plain(h=360, w=640, value=90):
    rng = np.random.default_rng(0)
    return np.clip(value + rng.normal(0, 3, (h, w)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("cx,cy", [(120, 90), (520, 250), (330, 180)])
def test_salient_centre_finds_the_subject_on_a_plain_background(cx, cy):
    img = _plain()
    cv2.circle(img, (cx, cy), 30, 230, -1)
    x, y = salient_centre(img)
    assert abs(x - cx) < 40 and abs(y - cy) < 40


def test_flat_frame_has_no_salient_centre():
    assert salient_centre(np.full((360, 640), 16, np.uint8)) is None


def test_title_card_text_is_boxed_whole():
    img = np.full((360, 640), 20, np.uint8)
    for i, line in enumerate(["CHAPTER ONE", "THE LONG ROAD HOME", "a film in three parts"]):
        cv2.putText(img, line, (60, 120 + 60 * i), cv2.FONT_HERSHEY_DUPLEX, 1.4, 235, 2, cv2.LINE_AA)
    x, y, w, h = text_box(img)
    assert x <= 70 and x + w >= 560  # the widest line, end to end
    assert y <= 95 and y + h >= 230  # all three lines


@pytest.mark.parametrize("kind", ["flat", "noise", "disc"])
def test_pictures_without_text_are_not_cards(kind):
    rng = np.random.default_rng(1)
    img = {"flat": np.full((360, 640), 120, np.uint8),
           "noise": rng.integers(0, 255, (360, 640), dtype=np.uint8),
           "disc": _plain()}[kind]
    if kind == "disc":
        cv2.circle(img, (320, 180), 80, 220, -1)
    assert text_box(img) is None


def test_thumbnail_prefers_a_face_and_shuns_cuts_blur_and_empty_frames():
    rng = np.random.default_rng(2)
    scene = cv2.GaussianBlur(rng.integers(0, 255, (360, 640), dtype=np.uint8), (0, 0), 1.0)
    face = thumbnail_worth(scene, face_heights=(90.0,)).score
    bare = thumbnail_worth(scene).score
    assert face > bare
    assert thumbnail_worth(scene, seconds_from_cut=0.1).score < bare
    blurred = cv2.GaussianBlur(scene, (0, 0), 6.0)
    assert thumbnail_worth(blurred).score < bare
    assert thumbnail_worth(np.full((360, 640), 16, np.uint8)).score < thumbnail_worth(blurred).score
