"""Audio events from per-hop features: speech activity, energy bursts (laughter, applause, shouting)."""

from __future__ import annotations

import numpy as np

from streamapp.kernels.smooth import convolve_same

SPEECH_BAND_HZ = (80.0, 4000.0)  # voiced speech: pitch, formants; hiss and applause spread far above


def band_ratio(hops: np.ndarray, sample_rate: int, band_hz: tuple[float, float] = SPEECH_BAND_HZ) -> np.ndarray:
    """Share of each hop's spectral energy inside ``band_hz``; ``hops`` is (n_hops, hop) float32."""
    if hops.size == 0:
        return np.zeros(0, dtype=np.float32)
    spec = np.abs(np.fft.rfft(hops * np.hanning(hops.shape[1]).astype(np.float32), axis=1)) ** 2
    freqs = np.fft.rfftfreq(hops.shape[1], 1.0 / sample_rate)
    inside = (freqs >= band_hz[0]) & (freqs <= band_hz[1])
    total = spec.sum(axis=1)
    return np.where(total > 0, spec[:, inside].sum(axis=1) / np.maximum(total, 1e-20), 0.0).astype(np.float32)


def _smooth_bool(mask: np.ndarray, width: int) -> np.ndarray:
    """Majority vote over ``width`` hops, so single hops do not flip the decision."""
    if mask.size == 0 or width <= 1:
        return mask.astype(bool)
    kernel = np.ones(width) / width
    return convolve_same(mask.astype(np.float64), kernel) >= 0.5


def speech_activity(
    rms_db: np.ndarray, zcr: np.ndarray, ratio: np.ndarray, hop_s: float, min_db: float = -45.0
) -> np.ndarray:
    """Heuristic voice activity per hop (uint8 0/1) without a model.

    Speech is louder than the recording's noise floor, keeps most of its energy in 80-4000 Hz and
    has a moderate zero-crossing rate: hiss, applause and noise fail the zero-crossing and band tests.
    Decisions are smoothed over ~0.3 s (unvoiced consonants sit between voiced hops) and held 0.2 s.
    """
    db = np.asarray(rms_db, dtype=np.float64)
    n = min(db.size, zcr.size, ratio.size)
    if n == 0:
        return np.zeros(0, dtype=np.uint8)
    db, z, r = db[:n], np.asarray(zcr[:n]), np.asarray(ratio[:n])
    floor = float(np.percentile(db, 10))
    loud = (db > max(min_db, floor + 10.0))
    voiced = (z > 0.005) & (z < 0.35) & (r > 0.6)
    act = _smooth_bool(loud & voiced, max(1, int(round(0.3 / hop_s))))
    hold = max(1, int(round(0.2 / hop_s)))
    held = convolve_same(act.astype(np.float64), np.ones(2 * hold + 1)) > 0
    return held.astype(np.uint8)


def speech_from_words(words: list[dict], n_hops: int, hop_s: float) -> np.ndarray:
    """Speech activity per hop from a transcript's word spans (gaps < 0.3 s bridged)."""
    out = np.zeros(n_hops, dtype=np.uint8)
    prev_end = None
    for w in words:
        a, b = float(w["start_s"]), float(w["end_s"])
        if prev_end is not None and 0 < a - prev_end < 0.3:
            a = prev_end
        i, j = int(a / hop_s), int(np.ceil(b / hop_s))
        out[max(0, i) : min(n_hops, j)] = 1
        prev_end = b
    return out


def bursts(
    lufs: np.ndarray, hop_s: float, rise_lu: float = 10.0, min_abs: float = -35.0, context_s: float = 10.0,
    min_len_s: float = 0.2,
) -> list[tuple[float, float]]:
    """Spans where momentary loudness jumps ``rise_lu`` above the median of the surrounding ``context_s``.

    That is what laughter, applause, shouting or a crash look like on a loudness curve. The median
    is taken over per-second values, so this is O(n) for hours of audio.
    """
    x = np.asarray(lufs, dtype=np.float64)
    if x.size == 0:
        return []
    per_s = max(1, int(round(1.0 / hop_s)))
    n_sec = int(np.ceil(x.size / per_s))
    padded = np.full(n_sec * per_s, np.nan)
    padded[: x.size] = x
    sec = np.nanmedian(padded.reshape(n_sec, per_s), axis=1)
    half = max(1, int(round(context_s / 2)))
    ext = np.concatenate([np.full(half, np.nan), sec, np.full(half, np.nan)])
    windows = np.lib.stride_tricks.sliding_window_view(ext, 2 * half + 1)
    local = np.nanmedian(windows, axis=1)  # per second
    ref = np.repeat(local, per_s)[: x.size]
    hot = (x >= ref + rise_lu) & (x >= min_abs)
    out: list[tuple[float, float]] = []
    if not hot.any():
        return out
    edges = np.diff(np.concatenate([[0], hot.astype(np.int8), [0]]))
    for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        if (b - a) * hop_s >= min_len_s:
            if out and a * hop_s - out[-1][1] < 0.3:  # one event with a short dip inside
                out[-1] = (out[-1][0], round(float(b * hop_s), 3))
            else:
                out.append((round(float(a * hop_s), 3), round(float(b * hop_s), 3)))
    return out
