"""Frame-difference kernels: per-frame motion energy and adaptive shot-boundary detection.

Pure numba/numpy over arrays; no I/O. Frames are small uint8 luma images (see media.decode).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Defaults tuned on 64-px-high luma: compression noise between frames of one shot stays near 1-3,
# a hard cut between different shots is typically 20-80.
DEFAULT_MIN_DIFF = 10.0
DEFAULT_RATIO = 3.0
DEFAULT_WINDOW_S = 1.0
DEFAULT_MIN_SHOT_S = 0.5


@njit(cache=True, nogil=True)
def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two equally shaped uint8 2-D images, on the 0..255 scale."""
    h, w = a.shape
    total = 0
    for y in range(h):
        for x in range(w):
            d = np.int32(a[y, x]) - np.int32(b[y, x])
            total += d if d >= 0 else -d
    n = h * w
    return total / n if n > 0 else 0.0


def motion_energy(prev: np.ndarray, cur: np.ndarray) -> float:
    """Motion energy of ``cur``: its mean absolute luma difference to the previous frame."""
    return float(mean_abs_diff(prev, cur))


@njit(cache=True, nogil=True)
def _window_sums(times_s: np.ndarray, values: np.ndarray, window_s: float, first: int) -> tuple:
    """For every i >= ``first``: the sum and count of values[j], j >= first, within +/- window_s of
    times_s[i] (a sliding window, O(n)); zeros before ``first``."""
    n = times_s.shape[0]
    sums = np.zeros(n)
    counts = np.zeros(n, dtype=np.int64)
    lo = first
    hi = first  # window is [lo, hi)
    acc = 0.0
    for i in range(first, n):
        t = times_s[i]
        while hi < n and times_s[hi] <= t + window_s:
            acc += values[hi]
            hi += 1
        while lo < i and times_s[lo] < t - window_s:
            acc -= values[lo]
            lo += 1
        sums[i] = acc
        counts[i] = hi - lo
    return sums, counts


@njit(cache=True, nogil=True)
def _cut_indices(
    times_s: np.ndarray, diffs: np.ndarray, min_diff: float, ratio: float, window_s: float, min_shot_s: float
) -> np.ndarray:
    n = times_s.shape[0]
    out = np.empty(n, dtype=np.int64)
    count = 0
    # diffs[0] has no previous frame, so it never counts as a neighbour.
    sums, counts = _window_sums(times_s, diffs, window_s, 1)
    for i in range(1, n):
        t = times_s[i]
        d = diffs[i]
        if d < min_diff:
            continue
        neighbours = counts[i] - 1
        local = (sums[i] - d) / neighbours if neighbours > 0 else 0.0
        if d < ratio * local:
            continue
        if count > 0 and t - times_s[out[count - 1]] < min_shot_s:
            # Two boundaries too close together (a flash or a fast dissolve): keep the stronger.
            if d > diffs[out[count - 1]]:
                out[count - 1] = i
            continue
        out[count] = i
        count += 1
    return out[:count]


def detect_cuts(
    times_s: np.ndarray,
    diffs: np.ndarray,
    min_diff: float = DEFAULT_MIN_DIFF,
    ratio: float = DEFAULT_RATIO,
    window_s: float = DEFAULT_WINDOW_S,
    min_shot_s: float = DEFAULT_MIN_SHOT_S,
) -> list[float]:
    """Shot boundaries as the times of the first frame of each new shot.

    A frame starts a shot when its difference to the previous frame is at least ``min_diff`` and
    at least ``ratio`` times the mean difference of its neighbours within +/- ``window_s`` (itself
    excluded), so busy, high-motion footage needs a bigger jump than a static one. Boundaries
    closer than ``min_shot_s`` collapse into the stronger one.
    """
    t = np.ascontiguousarray(times_s, dtype=np.float64)
    d = np.ascontiguousarray(diffs, dtype=np.float32)
    if t.shape != d.shape:
        raise ValueError("times_s and diffs must have the same length")
    idx = _cut_indices(t, d, float(min_diff), float(ratio), float(window_s), float(min_shot_s))
    return [float(t[i]) for i in idx]


# --- Richer per-frame statistics and gradual transitions (fades, dissolves) -------------------------

# A frame this dark on average, with this little contrast, is black (on the 0..255 luma scale;
# studio-range black is 16).
BLACK_MEAN = 24.0
BLACK_STD = 6.0
# Consecutive frames closer than this (mean abs diff) show the same picture: a freeze.
FROZEN_DIFF = 0.08  # a repeated picture decodes to ~0; a still shot's compression noise is 0.2-1


@njit(cache=True, nogil=True)
def frame_stats(prev: np.ndarray, cur: np.ndarray, older: np.ndarray) -> tuple[float, float, float, float]:
    """One pass over ``cur``: (mean abs diff to ``prev``, to ``older``, mean luma, luma std).

    ``older`` is the frame k steps back (the long-span difference that reveals gradual transitions).
    Equal shapes are the caller's business (the decoder keeps one size per stream).
    """
    h, w = cur.shape
    d1 = 0
    dk = 0
    s = 0
    s2 = 0
    for y in range(h):
        for x in range(w):
            c = np.int64(cur[y, x])
            a = c - np.int64(prev[y, x])
            b = c - np.int64(older[y, x])
            d1 += a if a >= 0 else -a
            dk += b if b >= 0 else -b
            s += c
            s2 += c * c
    n = h * w
    if n == 0:
        return 0.0, 0.0, 0.0, 0.0
    mean = s / n
    var = s2 / n - mean * mean
    return d1 / n, dk / n, mean, np.sqrt(var) if var > 0 else 0.0


@njit(cache=True, nogil=True)
def _gradual_indices(
    times_s: np.ndarray,
    d1: np.ndarray,
    dk: np.ndarray,
    k: int,
    min_dk: float,
    ratio: float,
    window_s: float,
    min_monotonic: float,
) -> np.ndarray:
    """Centres (frame indices) of gradual transitions; see ``detect_gradual``."""
    n = times_s.shape[0]
    out = np.empty(n, dtype=np.int64)
    count = 0
    prefix = np.zeros(n + 1)
    for i in range(n):
        prefix[i + 1] = prefix[i] + d1[i]
    # Local reference: mean of dk over +/- window_s.
    sums, counts = _window_sums(times_s, dk, window_s, 0)
    ref = np.empty(n)
    for i in range(n):
        ref[i] = sums[i] / counts[i] if counts[i] > 0 else 0.0
    i = k
    while i < n:
        if dk[i] < min_dk or dk[i] < ratio * ref[i]:
            i += 1
            continue
        # A run of frames that pass; its dk plateau marks the transition.
        j = i
        best = i
        while j < n and dk[j] >= min_dk and dk[j] >= ratio * ref[j]:
            if dk[j] > dk[best]:
                best = j
            j += 1
        # Centre of the near-peak plateau: with span k >= the dissolve length, dk peaks from the end of
        # the dissolve to k frames after its start, so (plateau centre - k/2) is the dissolve's middle.
        a = best
        while a > i and dk[a - 1] >= 0.9 * dk[best]:
            a -= 1
        b = best
        while b + 1 < j and dk[b + 1] >= 0.9 * dk[best]:
            b += 1
        c = (a + b) // 2
        # Monotonic change: in a dissolve every pixel moves steadily from A to B, so the k one-step
        # differences add up to about the k-step difference. Motion goes back and forth (sum >> dk).
        steps = prefix[c + 1] - prefix[c - k + 1]
        if steps > 0 and dk[c] / steps >= min_monotonic:
            mid = c - k // 2
            if mid < 1:
                mid = 1
            out[count] = mid
            count += 1
        i = j
    return out[:count]


def detect_gradual(
    times_s: np.ndarray,
    d1: np.ndarray,
    dk: np.ndarray,
    k: int,
    min_dk: float = 14.0,
    ratio: float = 1.3,
    window_s: float = 2.0,
    min_monotonic: float = 0.4,
) -> list[float]:
    """Gradual transitions (dissolves, fades) as the time of their middle frame.

    ``dk[i]`` is the mean abs difference of frame i to frame i-k. A transition is a run where dk is
    at least ``min_dk`` and ``ratio`` times its mean over +/- ``window_s``, and whose change is
    monotonic (dk over the summed one-step diffs at least ``min_monotonic``). Defaults were chosen on
    bench/shots.py seeds 0-2 and checked on held-out seeds (see bench/RESULTS-analysis.md).
    """
    t = np.ascontiguousarray(times_s, dtype=np.float64)
    a = np.ascontiguousarray(d1, dtype=np.float64)
    b = np.ascontiguousarray(dk, dtype=np.float64)
    if not (t.shape == a.shape == b.shape):
        raise ValueError("times_s, d1 and dk must have the same length")
    if t.size <= k or k < 2:
        return []
    idx = _gradual_indices(t, a, b, int(k), float(min_dk), float(ratio), float(window_s), float(min_monotonic))
    return [float(t[i]) for i in idx]


def merge_boundaries(
    hard: list[float], gradual: list[float], min_gap_s: float
) -> tuple[list[float], list[float]]:
    """(all boundaries, gradual ones kept): hard cuts win over gradual ones within ``min_gap_s``."""
    hard_sorted = np.asarray(sorted(hard), dtype=np.float64)
    kept: list[float] = []
    for g in gradual:
        if hard_sorted.size:
            i = int(np.searchsorted(hard_sorted, g))
            near = min(abs(g - hard_sorted[j]) for j in (i - 1, i) if 0 <= j < hard_sorted.size)
            if near < min_gap_s:
                continue
        if kept and g - kept[-1] < min_gap_s:
            continue
        kept.append(float(g))
    return sorted([float(h) for h in hard_sorted] + kept), kept


def spans_where(times_s: np.ndarray, mask: np.ndarray, min_len_s: float, frame_s: float) -> list[tuple[float, float]]:
    """``(start_s, end_s)`` of runs of True in ``mask`` lasting ``min_len_s`` or more; a frame lasts ``frame_s``."""
    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return []
    edges = np.diff(np.concatenate([[0], m.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)  # exclusive
    out = []
    for a, b in zip(starts, ends, strict=True):
        t0 = float(times_s[a])
        t1 = float(times_s[b - 1]) + frame_s
        if t1 - t0 >= min_len_s - 1e-9:
            out.append((round(float(t0), 4), round(float(t1), 4)))
    return out
