import av
import numpy as np
import pytest
from av.video.reformatter import VideoReformatter

from streamapp.kernels.shrink import shrink_luma
from streamapp.media.decode import _Shrinker


def _frame(fmt: str, w: int, h: int, seed: int = 0) -> av.VideoFrame:
    rng = np.random.default_rng(seed)
    frame = av.VideoFrame(w, h, fmt)
    for i, plane in enumerate(frame.planes):
        # Smooth luma (a gradient plus blobs) so both scalers see the same low-frequency picture.
        if i == 0:
            yy, xx = np.mgrid[0:h, 0:plane.line_size]
            base = 40 + 150 * xx / plane.line_size + 30 * np.sin(yy / 17.0)
            data = np.clip(base + rng.normal(0, 2, base.shape), 0, 255).astype(np.uint8).reshape(-1)
        else:
            data = np.full(plane.buffer_size, 128, np.uint8)
        plane.update(data[: plane.buffer_size])
    return frame


def test_block_mean_and_range_stretch():
    src = np.arange(16 * 8, dtype=np.uint8).reshape(8, 16)
    out = np.empty((2, 4), np.uint8)
    shrink_luma(src, 16, out, False)
    expect = src.reshape(2, 4, 4, 4).mean(axis=(1, 3))
    np.testing.assert_array_equal(out, np.floor(expect + 0.5).astype(np.uint8))
    flat = np.full((4, 4), 16, np.uint8)
    one = np.empty((1, 1), np.uint8)
    shrink_luma(flat, 4, one, True)
    assert one[0, 0] == 0  # limited-range black -> 0
    shrink_luma(np.full((4, 4), 235, np.uint8), 4, one, True)
    assert one[0, 0] == 255


def test_padded_rows_are_ignored():
    src = np.zeros((4, 8), np.uint8)
    src[:, 6:] = 255  # padding beyond the picture's width
    out = np.empty((1, 2), np.uint8)
    shrink_luma(src, 6, out, False)
    assert out.max() == 0


@pytest.mark.parametrize("fmt", ["yuv420p", "yuvj420p"])
def test_matches_swscale_area_at_integer_factors(fmt):
    frame = _frame(fmt, 1280, 720)
    ours = _Shrinker(180, 1.0)(frame, 0)
    ref = VideoReformatter().reformat(frame, 320, 180, format="gray", interpolation="AREA").to_ndarray()
    assert ours.shape == ref.shape and ours.flags.owndata
    assert np.abs(ours.astype(int) - ref).max() <= 2


def test_rotation_and_fallback_formats():
    frame = _frame("yuv420p", 320, 180)
    turned = _Shrinker(64, 1.0)(frame, 90)
    assert turned.shape == (64, 36) and turned.flags.c_contiguous
    rgb = av.VideoFrame.from_ndarray(np.full((180, 320, 3), 200, np.uint8), format="rgb24")
    small = _Shrinker(64, 1.0)(rgb, 0)  # no luma plane: swscale path
    assert small.shape == (64, 114) and small.dtype == np.uint8
