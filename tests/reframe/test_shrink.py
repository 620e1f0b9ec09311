import cv2
import numpy as np

from streamapp.reframe.analysis import _shrink


def test_shrink_matches_one_area_step_and_never_aliases_the_input():
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 255, (720, 1280), dtype=np.uint8), (0, 0), 3)
    direct = cv2.resize(img, (114, 64), interpolation=cv2.INTER_AREA).astype(int)
    fast = _shrink(img, (114, 64))
    assert fast.shape == (64, 114)
    assert np.abs(fast.astype(int) - direct).mean() < 2.0  # a few grey levels at most on noisy texture
    same = _shrink(img, (1280, 720))
    assert same is not img and np.array_equal(same, img)
