"""Luma downscale for analysis: area-average the decoder's Y plane straight to a small grey picture.

About 2x cheaper than swscale's AREA path (no yuv->gray frame, no scaler context). Each output pixel
is the mean of its block of source pixels (integer block edges; swscale's AREA is only approximately
an area mean at non-integer factors), and limited-range ("TV", 16-235) luma is stretched to 0..255 as
swscale does for ``format="gray"`` from a frame of unspecified range, so thresholds tuned on swscale
output still hold. (swscale instead squeezes frames tagged "MPEG range" towards 16-235; we treat every
limited-range frame alike.)
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def shrink_luma(src: np.ndarray, width: int, out: np.ndarray, limited: bool) -> None:
    """Area-average ``src[:, :width]`` (uint8, C-contiguous rows of a padded plane) into ``out`` (uint8).

    ``limited``: the source is limited-range luma; stretch 16..235 to 0..255 (clipped).
    """
    h = src.shape[0]
    oh, ow = out.shape
    colsum = np.empty(width, dtype=np.uint16)  # <= 257 rows a block fit without overflow
    if limited:
        scale = 255.0 / 219.0
        offset = -16.0 * scale
    else:
        scale = 1.0
        offset = 0.0
    for oy in range(oh):
        y0 = oy * h // oh
        y1 = max(y0 + 1, (oy + 1) * h // oh)
        row = src[y0]
        for x in range(width):
            colsum[x] = row[x]
        for y in range(y0 + 1, y1):
            row = src[y]
            for x in range(width):
                colsum[x] += row[x]
        for ox in range(ow):
            x0 = ox * width // ow
            x1 = max(x0 + 1, (ox + 1) * width // ow)
            s = 0
            for x in range(x0, x1):
                s += np.int64(colsum[x])
            v = s * scale / ((y1 - y0) * (x1 - x0)) + offset + 0.5
            out[oy, ox] = 0 if v < 0.0 else (255 if v >= 255.0 else np.uint8(v))


# 8-bit pixel formats whose first plane is the luma plane at full resolution.
LUMA_PLANE_FORMATS = frozenset(
    {
        "yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv440p", "yuvj440p",
        "yuv411p", "yuvj411p", "yuv410p", "nv12", "nv21", "nv16", "yuva420p",
    }
)
