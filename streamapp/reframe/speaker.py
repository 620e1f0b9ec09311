"""Who is speaking: mouth motion that rises with the speech, decided with hysteresis.

Pure functions over per-sample arrays. A face whose mouth moves while the sound is voiced is the
speaker; a head that nods in silence is not. The leader changes only after the other person has led
for ``hold_s``, so a short interjection ("yeah", a laugh) does not flip the camera.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from streamapp.kernels.smooth import convolve_same


@dataclass(frozen=True)
class Turn:
    """One person speaking (index into the people list) over [start_s, end_s)."""

    start_s: float
    end_s: float
    person: int


def voiced_at(times: Sequence[float], speech_db: np.ndarray | None, hop_s: float) -> np.ndarray:
    """1.0 where the sound at each time is voiced (10 dB over the recording's floor), else 0.0.

    A clip that is speech throughout has no floor of its own: then anything within 10 dB of its loud
    end counts.

    Without a loudness track every sample counts as voiced: mouth motion alone then decides.
    """
    t = np.asarray(times, dtype=np.float64)
    if speech_db is None or len(speech_db) == 0:
        return np.ones(t.size)
    db = np.asarray(speech_db, dtype=np.float64)
    floor, loud = float(np.percentile(db, 10)), float(np.percentile(db, 90))
    voiced = db > max(-50.0, min(floor + 10.0, loud - 10.0))
    idx = np.clip((t / hop_s).astype(int), 0, db.size - 1)
    # A hop either side: speech onsets lead the mouth's widest motion by a few tens of ms.
    near = voiced[idx] | voiced[np.clip(idx - 1, 0, db.size - 1)] | voiced[np.clip(idx + 1, 0, db.size - 1)]
    return near.astype(np.float64)


def speaking_scores(mouth: np.ndarray, voiced: np.ndarray, smooth: int = 3) -> np.ndarray:
    """Per person and sample: mouth motion while voiced, smoothed over ``smooth`` samples (~0.75 s at 4/s).

    ``mouth`` is (people, samples), NaN where a face was not seen. Each person's motion is divided by
    their own median, so a big face (more pixels moving) does not win for its size alone.
    """
    m = np.nan_to_num(np.asarray(mouth, dtype=np.float64), nan=0.0)
    scale = np.array([max(1e-6, float(np.median(row[row > 0]))) if np.any(row > 0) else 1.0 for row in m])
    active = (m / scale[:, None]) * voiced[None, :]
    kernel = np.ones(max(1, smooth)) / max(1, smooth)
    return np.stack([convolve_same(row, kernel) for row in active]) if active.size else active


def turns(times: Sequence[float], scores: np.ndarray, start_s: float, end_s: float, hold_s: float = 1.0,
          margin: float = 1.15, raw: np.ndarray | None = None) -> list[Turn]:
    """Speaker turns with hysteresis: a challenger must out-score the speaker by ``margin`` for ``hold_s``.

    The switch is placed where the challenger began to lead, so the cut lands on the new voice, not a
    second after it. With ``raw`` (per sample mouth motion, unsmoothed) that instant is refined to the
    first sample, one either side, where the challenger's mouth moves more: a centred smoothing window lets
    a voice lead one sample early (a cut to someone still silent) or late (measured on composed calls).
    """
    t = np.asarray(times, dtype=np.float64)
    if t.size == 0 or scores.size == 0:
        return [Turn(start_s, end_s, 0)]
    first = int(np.argmax(scores[:, : max(1, min(t.size, 5))].sum(axis=1)))
    out = [Turn(start_s, end_s, first)]
    current, since = first, None
    for i in range(t.size):
        best = int(np.argmax(scores[:, i]))
        leads = best != current and scores[best, i] > margin * scores[current, i] and scores[best, i] > 0
        if not leads:
            since = None
            continue
        since = i if since is None else since
        if t[i] - t[since] >= hold_s:
            at = float(t[_onset(raw, since, best, current)] if raw is not None else t[since])
            out[-1] = Turn(out[-1].start_s, at, current)
            out.append(Turn(at, end_s, best))
            current, since = best, None
    return [turn for turn in out if turn.end_s > turn.start_s]


def _onset(raw: np.ndarray, since: int, new: int, old: int) -> int:
    """The sample near ``since`` (one either side) where ``new``'s unsmoothed score first beats ``old``'s."""
    n = raw.shape[1]
    for j in range(max(0, since - 1), min(n, since + 2)):
        if raw[new, j] > raw[old, j]:
            return j
    return since


def agreement(times: Sequence[float], scores: np.ndarray, voiced: np.ndarray, spoken: Sequence[Turn]) -> float:
    """Share of the voiced samples where the turn's person is the one whose mouth moves most: how well
    cutting between speakers would show the voice heard (1.0 with nothing to judge by)."""
    t = np.asarray(times, dtype=np.float64)
    mask = (voiced > 0) & (scores.max(axis=0) > 0) if scores.size else np.zeros(t.size, bool)
    if not np.any(mask):
        return 1.0
    lead = np.argmax(scores, axis=0)
    person = np.zeros(t.size, dtype=int)
    for turn in spoken:
        person[(t >= turn.start_s) & (t < turn.end_s)] = turn.person
    return float(np.mean(lead[mask] == person[mask]))


def talk_shares(times: Sequence[float], scores: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """Share of the voiced samples each person leads: how a conversation's talking is divided."""
    if scores.size == 0 or not np.any(voiced > 0):
        return np.zeros(scores.shape[0] if scores.ndim == 2 else 0)
    lead = np.argmax(scores, axis=0)
    mask = (voiced > 0) & (scores.max(axis=0) > 0)
    if not np.any(mask):
        return np.zeros(scores.shape[0])
    return np.array([float(np.mean(lead[mask] == p)) for p in range(scores.shape[0])])
