"""Loudness mastering of a whole clip in memory: BS.1770 integrated loudness, true peak, a
look-ahead true-peak limiter and edge fades. Pure numpy/numba, no I/O.

Measurements follow ITU-R BS.1770-4 / EBU R128: K-weighted mean square per 400 ms block (75 %
overlap), channels summed with weight 1, absolute gate -70 LUFS, relative gate -10 LU. True peak is
the peak of the signal upsampled 4x (a windowed-sinc polyphase interpolator), in dBTP.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from streamapp.kernels.loudness import LUFS_OFFSET, KWeightedMeter

BLOCK_S = 0.4
STEP_S = 0.1
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
OVERSAMPLE = 4
_TAPS_PER_PHASE = 24
ATTACK_S = 0.005  # look-ahead: the gain starts falling this long before a peak
RELEASE_S = 0.1  # time constant of the gain's recovery after a peak
_MARGIN_DB = 0.1  # aim this far under the ceiling; the measured true peak is checked anyway


def _as_channels(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float32)
    return x.reshape(1, -1) if x.ndim == 1 else x.reshape(x.shape[0], -1)


def _hop_powers(x: np.ndarray, rate: int, hop: int) -> np.ndarray:
    """K-weighted mean square of each whole hop of ``hop`` samples, summed over channels (weight 1 each, each
    from a zero filter state).

    Streamed hop by hop (kernels.loudness): a clip's samples are never copied whole into K-weighted,
    squared and summed arrays (for a 60 s stereo clip those were ~140 MB per measurement, several per clip).
    """
    power = np.zeros(x.shape[1] // hop, dtype=np.float64)
    for channel in x:
        power += KWeightedMeter(rate, hop).feed(channel)[0]
    return power


def _window_powers(x: np.ndarray, rate: int, window_hops: int) -> np.ndarray:
    """Mean K-weighted power (channels summed) of windows of ``window_hops`` hops, one starting every hop."""
    hops = _hop_powers(x, rate, int(round(STEP_S * rate)))
    if hops.size < window_hops:
        return np.zeros(0, dtype=np.float64)
    prefix = np.concatenate([[0.0], np.cumsum(hops)])
    return (prefix[window_hops:] - prefix[:-window_hops]) / window_hops


def integrated_lufs(samples: np.ndarray, rate: int) -> float:
    """Gated integrated loudness (LUFS) of ``(n,)`` or ``(channels, n)`` samples; -inf for silence.

    A signal shorter than one 400 ms block is measured as a single block.
    """
    x = _as_channels(samples)
    n = x.shape[1]
    if n == 0:
        return float("-inf")
    # Shorter than one block: the whole signal's mean square is the one block.
    short = n < int(round(BLOCK_S * rate))
    power = _hop_powers(x, rate, n) if short else _window_powers(x, rate, int(round(BLOCK_S / STEP_S)))
    with np.errstate(divide="ignore"):
        loud = LUFS_OFFSET + 10.0 * np.log10(power)
    kept = power[loud > ABSOLUTE_GATE_LUFS]
    if kept.size == 0:
        return float("-inf")
    relative = LUFS_OFFSET + 10.0 * math.log10(kept.mean()) + RELATIVE_GATE_LU
    kept = kept[LUFS_OFFSET + 10.0 * np.log10(kept) > relative]
    return float(LUFS_OFFSET + 10.0 * math.log10(kept.mean()))


def loudness_range(samples: np.ndarray, rate: int) -> float:
    """EBU Tech 3342 loudness range (LU): the 10th to 95th percentile spread of 3 s short-term loudness
    (10 Hz), gated at -70 LUFS absolute and -20 LU relative; 0.0 when too short or silent."""
    x = _as_channels(samples)
    if x.shape[1] < int(round(3.0 * rate)):
        return 0.0
    power = _window_powers(x, rate, int(round(3.0 / STEP_S)))
    if power.size == 0:
        return 0.0
    with np.errstate(divide="ignore"):
        loud = LUFS_OFFSET + 10.0 * np.log10(power)
    kept = power[loud > ABSOLUTE_GATE_LUFS]
    if kept.size == 0:
        return 0.0
    relative = LUFS_OFFSET + 10.0 * math.log10(kept.mean()) - 20.0
    short_term = LUFS_OFFSET + 10.0 * np.log10(kept)
    short_term = short_term[short_term > relative]
    lo, hi = np.percentile(short_term, [10.0, 95.0])
    return float(hi - lo)


def _interpolator() -> np.ndarray:
    """(OVERSAMPLE - 1, taps) Kaiser-windowed sinc taps; row k-1 gives the value at offset k/OVERSAMPLE."""
    half = _TAPS_PER_PHASE // 2
    d = np.arange(-half + 1, half + 1, dtype=np.float64)  # x[i + d] contributes to the point i + k/4
    rows = []
    for k in range(1, OVERSAMPLE):
        u = d - k / OVERSAMPLE
        win = np.i0(6.0 * np.sqrt(np.clip(1.0 - (u / half) ** 2, 0.0, 1.0))) / np.i0(6.0)  # Kaiser
        taps = np.sinc(u) * win
        rows.append(taps / taps.sum())
    return np.array(rows)


_TAPS = _interpolator()


@njit(cache=True, nogil=True, fastmath=True)
def _segment_peaks(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Per sample i: the largest |value| of the interpolated signal on [i, i + 1], over channels."""
    ch, n = x.shape
    phases, width = taps.shape
    half = width // 2
    out = np.zeros(n, dtype=np.float64)
    padded = np.zeros(n + width, dtype=np.float64)  # zeros beyond both ends
    for c in range(ch):
        padded[half - 1 : half - 1 + n] = x[c]
        for i in range(n):
            p = abs(padded[i + half - 1])
            q = abs(padded[i + half])
            if q > p:
                p = q
            for k in range(phases):
                acc = 0.0
                for j in range(width):  # padded[i + j] is x[i - half + 1 + j]
                    acc += taps[k, j] * padded[i + j]
                if abs(acc) > p:
                    p = abs(acc)
            if p > out[i]:
                out[i] = p
    return out


def true_peak_db(samples: np.ndarray, rate: int) -> float:
    """Peak of the 4x oversampled signal in dBTP (dB relative to full scale); -inf for silence.

    ``rate`` is accepted for symmetry with ``integrated_lufs``; 4x oversampling is used at any rate.
    """
    del rate
    x = np.ascontiguousarray(_as_channels(samples))
    if x.shape[1] == 0:
        return float("-inf")
    peak = float(_segment_peaks(x, _TAPS).max())
    return 20.0 * math.log10(peak) if peak > 0 else float("-inf")


@njit(cache=True, nogil=True)
def _gain_envelope(need: np.ndarray, attack: int, release_coef: float) -> np.ndarray:
    """Smooth gain <= ``need`` at every sample: forward min over ``attack`` samples (look-ahead hold),
    exponential recovery, then a moving average over ``attack`` samples (a linear ramp into each peak)."""
    n = need.shape[0]
    # Sliding minimum of need[i .. i + attack] with a monotonic deque (indices).
    held = np.empty(n, dtype=np.float64)
    dq = np.empty(n, dtype=np.int64)
    head = 0
    tail = 0
    j = 0
    for i in range(n):
        while j < n and j <= i + attack:
            while tail > head and need[dq[tail - 1]] >= need[j]:
                tail -= 1
            dq[tail] = j
            tail += 1
            j += 1
        while dq[head] < i:
            head += 1
        held[i] = need[dq[head]]
    # Release: the gain climbs back towards 1 with time constant release.
    g = 1.0
    for i in range(n):
        g = 1.0 - (1.0 - g) * release_coef
        if held[i] < g:
            g = held[i]
        held[i] = g
    # Moving average over [i - attack, i] (samples before 0 count as the first value).
    out = np.empty(n, dtype=np.float64)
    acc = held[0] * (attack + 1)
    for i in range(n):
        if i > 0:
            acc += held[i] - held[max(0, i - attack - 1)]
        out[i] = min(acc / (attack + 1), need[i])  # never above need (rounding of the running sum)
    return out


def _limit(x: np.ndarray, rate: int, ceiling_db: float) -> tuple[np.ndarray, float | None]:
    """Per-sample gain (float64, n) that keeps the interpolated peak of ``x * gain`` near ``ceiling_db``,
    and the true peak (dBTP) of ``x * gain`` when it is known without measuring again (no limiting)."""
    peaks = _segment_peaks(np.ascontiguousarray(x), _TAPS)
    top = float(peaks.max()) if peaks.size else 0.0
    # A sample's gain must cover the interpolated segments on both sides of it.
    peaks[1:] = np.maximum(peaks[1:], peaks[:-1])
    ceiling = 10.0 ** (ceiling_db / 20.0)
    need = np.ones_like(peaks)
    loud = peaks > ceiling
    need[loud] = ceiling / peaks[loud]
    if not loud.any():
        return need, (20.0 * math.log10(top) if top > 0 else float("-inf"))
    attack = max(1, int(round(ATTACK_S * rate)))
    coef = math.exp(-1.0 / (RELEASE_S * rate))
    return _gain_envelope(need, attack, coef), None


def _fade(n: int, fade_n: int) -> np.ndarray:
    """Raised-cosine gain 0 -> 1 over ``fade_n`` samples at the start and 1 -> 0 at the end."""
    w = np.ones(n, dtype=np.float64)
    fade_n = min(fade_n, n // 2)
    if fade_n > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade_n) / fade_n)
        w[:fade_n] = ramp
        w[n - fade_n :] = ramp[::-1]
    return w


def _finite(v: float) -> float | None:
    return round(v, 2) if math.isfinite(v) else None


@dataclass(frozen=True)
class MasteredAudio:
    """Mastered samples (float32, same shape as the input) and what was measured on the way."""

    samples: np.ndarray
    input_lufs: float  # -inf for silence
    output_lufs: float
    gain_db: float  # loudness gain applied before the limiter
    input_true_peak_db: float
    output_true_peak_db: float
    limiter_db: float  # deepest gain reduction of the limiter (<= 0)

    def report_dict(self) -> dict[str, float | None]:
        """JSON-ready measurements rounded to 0.01 (None where a value is -inf, i.e. silence)."""
        return {
            "input_lufs": _finite(self.input_lufs),
            "output_lufs": _finite(self.output_lufs),
            "gain_db": _finite(self.gain_db),
            "input_true_peak_db": _finite(self.input_true_peak_db),
            "output_true_peak_db": _finite(self.output_true_peak_db),
            "limiter_db": _finite(self.limiter_db),
        }


def master_audio(
    samples: np.ndarray,
    rate: int,
    target_lufs: float | None = -14.0,
    max_true_peak_db: float | None = -1.0,
    fade_s: float = 0.02,
    max_gain_db: float = 30.0,
) -> MasteredAudio:
    """Gain ``samples`` ((n,) or (channels, n)) to ``target_lufs`` (None: level untouched), limit the
    true peak to ``max_true_peak_db`` (None: no limiter) and fade both ends over ``fade_s``.

    Silence gets no gain; the gain is capped at ``max_gain_db`` so a near-silent clip's noise is not
    lifted to speech level. When the limiter takes loudness off, the gain is raised again (a few
    rounds) so the result lands close to the target.
    """
    src = np.asarray(samples, dtype=np.float32)
    x = _as_channels(src).astype(np.float64)
    n = x.shape[1]
    in_lufs = integrated_lufs(x, rate)
    in_tp = true_peak_db(x, rate)
    gain_db = 0.0
    if target_lufs is not None and math.isfinite(in_lufs):
        gain_db = min(max_gain_db, target_lufs - in_lufs)
    y = x * 10.0 ** (gain_db / 20.0)
    limiter_db = 0.0
    rounds = 4 if target_lufs is not None and math.isfinite(in_lufs) else 1
    for _ in range(rounds):
        y = x * 10.0 ** (gain_db / 20.0)
        limiter_db = 0.0
        if max_true_peak_db is None or n == 0:
            break
        aim = max_true_peak_db - _MARGIN_DB
        for _ in range(4):
            env, tp = _limit(y, rate, aim)
            limited = y * env
            if tp is None:
                tp = true_peak_db(limited, rate)
            if not tp > max_true_peak_db:
                break
            aim -= tp - max_true_peak_db + 0.05
        y = limited
        limiter_db = 20.0 * math.log10(max(float(env.min()), 1e-10))
        if target_lufs is None or limiter_db == 0.0:
            break
        out_lufs = integrated_lufs(y, rate)
        short = target_lufs - out_lufs
        if short < 0.2 or gain_db >= max_gain_db:
            break
        gain_db = min(max_gain_db, gain_db + short)
    fade_n = int(round(max(0.0, fade_s) * rate))
    if fade_n > 0:
        y = y * _fade(n, fade_n)
    out = y.astype(np.float32).reshape(src.shape)
    return MasteredAudio(
        samples=out,
        input_lufs=in_lufs,
        output_lufs=integrated_lufs(out, rate),
        gain_db=gain_db,
        input_true_peak_db=in_tp,
        output_true_peak_db=true_peak_db(out, rate),
        limiter_db=limiter_db,
    )
