"""Moving sums and averages that keep their input's length."""

from __future__ import annotations

import numpy as np


def convolve_same(values: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``np.convolve(values, kernel, mode="same")`` with one value per input value however short the input.

    numpy's "same" gives the longer of the two, so an input shorter than its kernel (a shot with two face
    samples, a sound of a few hops) came back longer than itself and no longer lined up with its times."""
    values, kernel = np.asarray(values), np.asarray(kernel)
    if values.size == 0:
        return np.zeros(0, dtype=np.result_type(values, kernel))
    start = (kernel.size - 1) // 2
    return np.convolve(values, kernel, mode="full")[start : start + values.size]
