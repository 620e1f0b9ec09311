"""Pure clip-edge refinement: move a chosen clip's start and end into the pauses around its speech.

Word timestamps from Whisper start 100-300 ms after the voice does, and a window edge on a cut or a
silence edge knows nothing about syllables. So the voice itself is measured on the loudness curve
(one value per 50 ms hop) and each clip is made to start in the pause before its first word and end
in the pause after its last, with a margin where the pause allows and a split where it does not.
Shot cuts close to an edge are snapped to, so no clip opens or closes on a flash of another shot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from streamapp.stages.extract import Signals

_INF = float("inf")
_MS = 1e-3


@dataclass(frozen=True)
class EdgeParams:
    """Knobs of the edge rule (seconds and dB)."""

    lead_s: float = 0.15  # silence kept before the voice begins, where the pause allows
    tail_s: float = 0.30  # silence kept after the voice ends (trailing consonants, breath, reverb)
    cut_guard_s: float = 0.5  # no edge this close to a cut on the wrong side (a flash of the other shot)
    bridge_s: float = 0.1  # quiet gaps this short are inside speech (stop consonants), not pauses
    late_s: float = 0.35  # how far an ASR word time may be from the word's voice
    search_s: float = 4.0  # how far an edge may move to get away from a cut
    stretch_s: float = 1.0  # how far a no-words edge may go past the nearer pause to keep some voice in
    sentence_pause_s: float = 0.25  # a shorter pause is a breath or a comma inside a sentence, not its edge
    sentence_search_s: float = 2.0  # how far past such a breath an edge may move to reach a real pause
    floor_margin_db: float = 10.0  # voice is this far above the noise floor (5th percentile) ...
    level_range_db: float = 35.0  # ... and no more than this below the speech level (95th percentile)


@dataclass(frozen=True)
class Voice:
    """Voiced spans on media time: sorted, disjoint ``[on_s[k], off_s[k]]``. ``source``: audio, words or none."""

    on_s: np.ndarray
    off_s: np.ndarray
    source: str


@dataclass(frozen=True)
class Edge:
    """A refined clip: its edges (ms), where its voice begins and ends (None if unknown) and why."""

    start_s: float
    end_s: float
    voice_start_s: float | None
    voice_end_s: float | None
    start_rule: str  # pause | split | cut | before-cut | silent | neighbour | kept
    end_rule: str  # pause | split | cut | after-cut | silent | neighbour | kept

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class _Pause:
    """A quiet span between two voiced spans; -inf/+inf where no voice lies before/after."""

    before: float  # where the previous voice ends
    after: float  # where the next voice begins


# --- voice from the audio -------------------------------------------------------------------------


def voiced_hops(loudness_db: np.ndarray, params: EdgeParams = EdgeParams()) -> np.ndarray:
    """True per hop whose level is voice: above the noise floor and within reach of the speech level.

    Both references come from the recording itself, so a noisy room or a quiet speaker shift the
    threshold with them. A hop that holds the first few ms of a word already reads loud (RMS over
    the hop), so runs of voiced hops start at or before the true onset and end at or after the offset.
    """
    db = np.asarray(loudness_db, dtype=np.float64)
    if db.size == 0:
        return np.zeros(0, dtype=bool)
    floor, level = np.percentile(db, [5.0, 95.0])
    threshold = max(floor + params.floor_margin_db, level - params.level_range_db)
    return db > threshold


def _runs(mask: np.ndarray, hop_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Start and end times of the runs of True in a per-hop mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    on = np.flatnonzero(edges == 1).astype(np.float64) * hop_s
    off = np.flatnonzero(edges == -1).astype(np.float64) * hop_s
    return on, off


def _bridge(on: np.ndarray, off: np.ndarray, gap_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Merge spans separated by gaps of at most ``gap_s`` (the closure of a p or t is no pause)."""
    if on.size < 2:
        return on, off
    keep = np.concatenate([[True], on[1:] - off[:-1] > gap_s + _MS])
    last = np.concatenate([keep[1:], [True]])
    return on[keep], off[last]


def _add_unheard_words(on: np.ndarray, off: np.ndarray, words: list[dict],
                       late_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Add the ASR span of each word that no voiced span comes near: speech too quiet for the threshold."""
    if not words:
        return on, off
    ws = np.array([float(w["start_s"]) for w in words])
    we = np.array([float(w["end_s"]) for w in words])
    # A span overlaps [ws - late, we + late] iff it starts before its end and ends after its start.
    first_after = np.searchsorted(on, we + late_s, side="right")  # spans starting before the word's end
    heard = (first_after > 0) & (off[np.maximum(first_after - 1, 0)] >= ws - late_s) if on.size else (ws < -_INF)
    if heard.all():
        return on, off
    on2 = np.concatenate([on, ws[~heard]])
    off2 = np.concatenate([off, np.maximum(we[~heard], ws[~heard] + _MS)])
    order = np.argsort(on2, kind="stable")
    on2, off2 = on2[order], np.maximum.accumulate(off2[order])
    # Overlapping spans after the insert: merge them (a zero gap is bridged).
    return _bridge(on2, off2, 0.0)


def voice_spans(signals: Signals, params: EdgeParams = EdgeParams()) -> Voice:
    """Where someone (or something) is audible: loudness runs with short gaps bridged.

    Without audio the transcript's word spans stand in; with neither there is no voice at all.
    """
    db = np.asarray(signals.loudness_db)
    if signals.has_audio and db.size:
        on, off = _runs(voiced_hops(db, params), float(signals.hop_s))
        on, off = _bridge(on, off, params.bridge_s)
        on, off = _add_unheard_words(on, off, signals.words, params.late_s)
        return Voice(on, off, "audio")
    if signals.words:
        on, off = _add_unheard_words(np.zeros(0), np.zeros(0), signals.words, 0.0)
        return Voice(*_bridge(on, off, params.bridge_s), "words")
    return Voice(np.zeros(0), np.zeros(0), "none")


# --- the pause around a clip's first and last word ------------------------------------------------


def _run_at(voice: Voice, t: float) -> int:
    """Index of the voiced span holding t, or -1."""
    k = int(np.searchsorted(voice.on_s, t, side="right")) - 1
    return k if k >= 0 and t <= voice.off_s[k] else -1


def _pause_before(voice: Voice, k: int) -> _Pause:
    """The pause that ends where span k begins (k == len: the pause after the last span)."""
    before = float(voice.off_s[k - 1]) if k > 0 else -_INF
    after = float(voice.on_s[k]) if k < voice.on_s.size else _INF
    return _Pause(before, after)


def _quietest(signals: Signals, a: float, b: float) -> float:
    """The middle of the quietest hop in [a, b]: where to split speech that has no pause."""
    db = np.asarray(signals.loudness_db, dtype=np.float64)
    hop = float(signals.hop_s)
    i, j = int(np.floor(max(a, 0.0) / hop)), int(np.ceil(b / hop))
    j = min(j, db.size)
    if not signals.has_audio or j <= i:
        return 0.5 * (a + b)
    # The middle of the longest stretch within 1 dB of the minimum: a gap, not one quiet hop at its edge.
    near = db[i:j] <= db[i:j].min() + 1.0
    edges = np.diff(np.concatenate([[0], near.astype(np.int8), [0]]))
    on, off = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    longest = int(np.argmax(off - on))  # first of equals: deterministic
    return float(np.clip((i + 0.5 * (on[longest] + off[longest])) * hop, a, b))


def _split(signals: Signals, ws: np.ndarray, we: np.ndarray, k: int) -> float:
    """Where to part words k and k+1 when no pause shows: the quietest stretch from word k's ASR start
    (late words' voice lies before their ASR times) to just inside word k+1. Both clips sharing that
    boundary compute the same point."""
    return _quietest(signals, float(ws[k]), float(ws[k + 1] + min(0.05, 0.5 * (we[k + 1] - ws[k + 1]))))


def _word_arrays(words: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([float(w["start_s"]) for w in words]), np.array([float(w["end_s"]) for w in words]))


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _word_run(voice: Voice, ws: np.ndarray, we: np.ndarray, i: int, anchor: float, late_s: float) -> int:
    """The voiced span that is word i: the one at ``anchor`` (just inside its ASR span), else the
    neighbouring span that best fits the word's plausible voice ``[start - late_s, end]`` and least
    fits its neighbours' (so a late word takes the span its ASR time just missed, unless that span is
    the previous word's). -1 when no span comes near."""
    k = _run_at(voice, anchor)
    if k >= 0:
        return k
    nxt = int(np.searchsorted(voice.on_s, anchor, side="right"))
    fits: list[tuple[float, int]] = []
    for j in (nxt - 1, nxt):
        if 0 <= j < voice.on_s.size:
            on, off = float(voice.on_s[j]), float(voice.off_s[j])
            own = _overlap(on, off, ws[i] - late_s, we[i])
            others = sum(_overlap(on, off, ws[n] - late_s, we[n]) for n in (i - 1, i + 1) if 0 <= n < ws.size)
            if own > 0:
                fits.append((own - others, -j))  # ties: the earlier span
    return -max(fits)[1] if fits else -1


def _start_pause(signals: Signals, voice: Voice, start: float, end: float, params: EdgeParams) -> _Pause | None:
    """The pause the clip should start in: before its first word's voice (or, without words, the one
    holding ``start`` or nearest to it). None when no voice begins inside the clip."""
    words = signals.words
    if words:
        ws, we = _word_arrays(words)
        i = int(np.searchsorted((ws + we) / 2.0, start - _MS, side="left"))  # first word whose middle is in
        if i < len(words) and ws[i] < end:
            anchor = ws[i] + min(0.05, 0.5 * (we[i] - ws[i]))  # just inside the word: late starts still hit
            k = _word_run(voice, ws, we, i, anchor, params.late_s)
            if k < 0:
                return _Pause(float(voice.off_s[voice.off_s < ws[i]][-1]) if (voice.off_s < ws[i]).any()
                              else -_INF, float(ws[i]))
            if i > 0 and (ws[i - 1] + we[i - 1]) / 2.0 >= voice.on_s[k]:
                # The previous word is in the same voiced span: no audible pause. Split at the quietest hop.
                t = _split(signals, ws, we, i - 1)
                return _Pause(t, t)
            return _pause_before(voice, k)
    k = _run_at(voice, start)
    if k < 0:
        options = [_pause_before(voice, int(np.searchsorted(voice.on_s, start, side="right")))]
    elif start - voice.on_s[k] <= voice.off_s[k] - start:
        options = [_pause_before(voice, k), _pause_before(voice, k + 1)]  # nearer the span's start: take it all
    else:
        options = [_pause_before(voice, k + 1), _pause_before(voice, k)]  # nearer its end: leave it out
    # Some voice must stay in the clip; the farther option only if it moves the edge a little.
    ok = [p for n, p in enumerate(options) if p.after < end and (n == 0 or abs(p.after - start) <= params.stretch_s)]
    return ok[0] if ok else None


def _end_pause(signals: Signals, voice: Voice, start: float, end: float, params: EdgeParams) -> _Pause | None:
    """The pause the clip should end in: after its last word's voice (or, without words, the one
    holding ``end`` or nearest to it). None when no voice ends inside the clip."""
    words = signals.words
    if words:
        ws, we = _word_arrays(words)
        j = int(np.searchsorted((ws + we) / 2.0, end + _MS, side="right")) - 1  # last word whose middle is in
        if j >= 0 and we[j] > start:
            anchor = we[j] - min(0.05, 0.5 * (we[j] - ws[j]))
            k = _word_run(voice, ws, we, j, anchor, params.late_s)
            if k < 0:
                later = voice.on_s[voice.on_s > we[j]]
                return _Pause(float(we[j]), float(later[0]) if later.size else _INF)
            if j + 1 < len(words) and (ws[j + 1] + we[j + 1]) / 2.0 <= voice.off_s[k]:
                t = _split(signals, ws, we, j)
                return _Pause(t, t)
            return _pause_before(voice, k + 1)
    k = _run_at(voice, end)
    if k < 0:
        options = [_pause_before(voice, int(np.searchsorted(voice.on_s, end, side="right")))]
    elif voice.off_s[k] - end <= end - voice.on_s[k]:
        options = [_pause_before(voice, k + 1), _pause_before(voice, k)]
    else:
        options = [_pause_before(voice, k), _pause_before(voice, k + 1)]
    ok = [p for n, p in enumerate(options) if p.before > start and (n == 0 or abs(p.before - end) <= params.stretch_s)]
    return ok[0] if ok else None


# --- choosing the edge inside (or near) that pause ------------------------------------------------


def _start_point(p: _Pause, lead_s: float) -> float:
    """``lead_s`` before the voice, but never past the middle of the pause (the rest is the previous voice's)."""
    return max(p.after - lead_s, 0.5 * (p.before + p.after)) if p.before > -_INF else p.after - lead_s


def _end_point(p: _Pause, tail_s: float) -> float:
    return min(p.before + tail_s, 0.5 * (p.before + p.after)) if p.after < _INF else p.before + tail_s


def _pauses_from(voice: Voice, first: _Pause, forward: bool, limit_s: float) -> list[_Pause]:
    """``first`` and the pauses after it (or before it), up to ``limit_s`` away."""
    out = [first]
    if forward:
        k = int(np.searchsorted(voice.on_s, first.after, side="left")) + 1  # the pause after the next span
        while k <= voice.on_s.size and voice.off_s[k - 1] - first.before <= limit_s:
            out.append(_pause_before(voice, k))
            k += 1
    else:
        k = int(np.searchsorted(voice.off_s, first.before, side="right")) - 1  # the span before the pause
        while k >= 0 and first.after - voice.on_s[k] <= limit_s:
            out.append(_pause_before(voice, k))
            k -= 1
    return out


def _sentence_pauses(pauses: list[_Pause], at: float, params: EdgeParams) -> list[_Pause]:
    """``pauses`` (nearest first) starting from the first one long enough to part sentences, when the
    nearest is only a breath or a comma and a real pause lies within ``sentence_search_s``; else as given.

    Whisper may end a sentence at a comma; the voice pauses there for a tenth of a second, and a clip
    that starts or ends in that breath starts or ends mid-sentence for a listener.
    """
    def long(p: _Pause) -> bool:
        return p.after - p.before >= params.sentence_pause_s

    if not pauses or long(pauses[0]):
        return pauses
    for n, p in enumerate(pauses):
        near = min(abs(at - side) for side in (p.before, p.after) if abs(side) < _INF)
        if long(p) and near <= params.sentence_search_s:
            return pauses[n:]
    return pauses


def _cut_between(cuts: np.ndarray, a: float, b: float) -> bool:
    """Is there a cut strictly inside (a, b), by more than a millisecond?"""
    return bool(np.searchsorted(cuts, b - _MS, side="left") > np.searchsorted(cuts, a + _MS, side="right"))


def _start_candidates(pauses: list[_Pause], cuts: np.ndarray, params: EdgeParams) -> list[tuple[float, str]]:
    out: list[tuple[float, str]] = []
    for p in pauses:
        point = _start_point(p, params.lead_s)
        out.append((point, "split" if p.before == p.after else "pause"))
        lo, hi = np.searchsorted(cuts, [p.before + _MS / 2, p.after - _MS / 2])  # strictly in the pause
        out.extend((float(c), "cut") for c in cuts[lo:hi])  # a cut inside the pause: start on it
        lo, hi = np.searchsorted(cuts, [p.before + params.cut_guard_s - _MS, point + params.cut_guard_s + _MS])
        out.extend((float(c) - params.cut_guard_s, "before-cut") for c in cuts[lo:hi])
    return out


def _end_candidates(pauses: list[_Pause], cuts: np.ndarray, params: EdgeParams) -> list[tuple[float, str]]:
    out: list[tuple[float, str]] = []
    for p in pauses:
        point = _end_point(p, params.tail_s)
        out.append((point, "split" if p.before == p.after else "pause"))
        lo, hi = np.searchsorted(cuts, [p.before + _MS / 2, p.after - _MS / 2])  # strictly in the pause
        out.extend((float(c), "cut") for c in cuts[lo:hi])
        lo, hi = np.searchsorted(cuts, [point - params.cut_guard_s - _MS, p.after - params.cut_guard_s + _MS])
        out.extend((float(c) + params.cut_guard_s, "after-cut") for c in cuts[lo:hi])
    return out


def _out_of_voice(voice: Voice, t: float, forward: bool, params: EdgeParams) -> float:
    """``t`` if it is in a pause, else the margin point of the pause after (forward) or before its voice."""
    k = _run_at(voice, t)
    if k < 0:
        return t
    if forward:
        return _end_point(_pause_before(voice, k + 1), params.tail_s)
    return _start_point(_pause_before(voice, k), params.lead_s)


def refine_start(signals: Signals, voice: Voice, start: float, end: float, lo: float, hi: float,
                 params: EdgeParams = EdgeParams()) -> tuple[float, float | None, str]:
    """(start, voice onset or None, rule) for a clip [start, end] that may start anywhere in [lo, hi].

    The latest allowed spot at or before the target pause wins: its margin point, a cut inside it, or
    a point ``cut_guard_s`` before a cut that would otherwise flash in; earlier pauses are tried next.
    """
    cuts = np.asarray(sorted(signals.cuts_s), dtype=np.float64)
    target = _start_pause(signals, voice, start, end, params)
    onset = None if target is None or target.after == _INF else target.after
    if target is None:  # no voice begins in the clip: just leave the voice it starts in
        t = _out_of_voice(voice, start, forward=True, params=params)
        cands = [(t, "kept" if t == start else "silent")]
        cands += [(float(c), "cut") for c in cuts if t < c < t + params.cut_guard_s]
    else:
        pauses = _sentence_pauses(_pauses_from(voice, target, False, params.search_s), target.after, params)
        cands = _start_candidates(pauses, cuts, params)
    ok = [(t, r) for t, r in cands if lo - _MS <= t <= hi and not _cut_between(cuts, t, t + params.cut_guard_s)]
    t, rule = max(ok) if ok else cands[0]  # nowhere clean: a syllable matters more than a flash frame
    return float(np.clip(t, lo, hi)), onset, rule


def refine_end(signals: Signals, voice: Voice, start: float, end: float, lo: float, hi: float,
               params: EdgeParams = EdgeParams()) -> tuple[float, float | None, str]:
    """(end, voice offset or None, rule): the mirror of ``refine_start`` (earliest allowed spot after)."""
    cuts = np.asarray(sorted(signals.cuts_s), dtype=np.float64)
    target = _end_pause(signals, voice, start, end, params)
    offset = None if target is None or target.before == -_INF else target.before
    if target is None:
        t = _out_of_voice(voice, end, forward=False, params=params)
        cands = [(t, "kept" if t == end else "silent")]
        cands += [(float(c), "cut") for c in cuts if t - params.cut_guard_s < c < t]
    else:
        pauses = _sentence_pauses(_pauses_from(voice, target, True, params.search_s), target.before, params)
        cands = _end_candidates(pauses, cuts, params)
    ok = [(t, r) for t, r in cands if lo <= t <= hi + _MS and not _cut_between(cuts, t - params.cut_guard_s, t)]
    t, rule = min(ok) if ok else cands[0]
    return float(np.clip(t, lo, hi)), offset, rule


def refine_edges(
    signals: Signals,
    spans: Sequence[tuple[float, float]],
    range_s: tuple[float | None, float | None] = (None, None),
    params: EdgeParams = EdgeParams(),
    min_s: float | None = None,
) -> list[Edge]:
    """Refined edges for clips ``spans`` (non-overlapping; any order), returned in the same order.

    Each clip starts in the pause before its first word (``lead_s`` before the voice where the pause
    allows, else the pause's middle) and ends in the pause after its last (``tail_s`` after). Voice is
    measured on the audio, so late ASR word times do not cut the first syllable. Edges never fall in
    the ``cut_guard_s`` before a cut (start) or after one (end): they snap to the cut when it lies in
    the pause, else move to a pause clear of it. Clips stay inside ``range_s`` (clamped to [0,
    duration]) and do not overlap. Durations may leave the [min, max] the windows were built with by
    the margins (and any silence trimmed at an edge): the edges follow the voice, not the clock.
    Times are rounded to the millisecond; the result is deterministic. With ``min_s``, a clip whose
    trimmed silence would leave it shorter than that gets silence back at both ends (never voice), so a
    window of one word in a long quiet stretch does not become a one-second clip.
    """
    duration = float(signals.duration_s)
    # Edges are kept to the millisecond: round the range inwards so no rounded edge leaves it.
    lo = math.ceil(max(0.0, float(range_s[0] or 0.0)) * 1000.0 - 1e-6) / 1000.0
    hi = min(duration, float(range_s[1])) if range_s[1] is not None else duration
    hi = math.floor(hi * 1000.0 + 1e-6) / 1000.0
    voice = voice_spans(signals, params)
    out: list[Edge] = []
    for s, e in spans:
        s, e = float(s), float(e)
        start, onset, s_rule = refine_start(signals, voice, s, e, lo, min(e, hi), params)
        # The end is judged from the refined start: what voice the clip keeps depends on both.
        end, offset, e_rule = refine_end(signals, voice, start, e, max(start, lo), hi, params)
        if round(end, 3) <= round(start, 3):  # the clip holds no voice it can keep: just step out of the voice
            start, s_rule = max(lo, _out_of_voice(voice, s, True, params)), "silent"
            end, e_rule = min(hi, _out_of_voice(voice, e, False, params)), "silent"
            if end <= start:  # the window lies inside one stretch of sound (music, a tone): it keeps its edges
                start, end, s_rule, e_rule = max(lo, s), min(hi, e), "kept", "kept"
        start, end = _padded_to(voice, start, end, min_s, lo, hi, params)
        out.append(Edge(round(start, 3), round(end, 3), onset, offset, s_rule, e_rule))
    return _without_overlaps(out, spans, lo)


def _padded_to(voice: Voice, start: float, end: float, min_s: float | None, lo: float, hi: float,
               params: EdgeParams) -> tuple[float, float]:
    """Grow [start, end) to ``min_s`` through the silence around it, half before and half after where it can.

    Only quiet time is added: the start goes no earlier than ``tail_s`` after the voice before it, the end
    no later than ``lead_s`` before the voice after it, so both edges stay in their pauses.
    """
    if min_s is None or end - start >= min_s:
        return start, end
    k = int(np.searchsorted(voice.off_s, start, side="right")) - 1
    earliest = max(lo, float(voice.off_s[k]) + params.tail_s) if k >= 0 else lo
    j = int(np.searchsorted(voice.on_s, end, side="left"))
    latest = min(hi, float(voice.on_s[j]) - params.lead_s) if j < voice.on_s.size else hi
    room_before, room_after = max(0.0, start - earliest), max(0.0, latest - end)
    need = min_s - (end - start)
    before = min(room_before, max(need / 2, need - room_after))
    after = min(room_after, need - before)
    return round(start - before, 3), round(end + after, 3)


def _meeting_point(earlier: Edge, later: Edge, window_start: float) -> float:
    """Where two clips that want the same pause meet: in the quiet between the earlier one's voice and the
    later one's (a breath too short to be an edge is still not a word), else at the later window's start."""
    if earlier.voice_end_s < later.voice_start_s:
        return round((earlier.voice_end_s + later.voice_start_s) / 2.0, 3)
    return round(window_start, 3)


def _without_overlaps(edges: list[Edge], spans: Sequence[tuple[float, float]], lo: float) -> list[Edge]:
    """Neighbours that reach into each other meet at one point, in time order.

    Usually the later clip starts where the earlier one ends (a pause point or a cut, so still clean).
    When that would leave the later clip less than half its window, the earlier one ends where the
    later starts instead; failing both (speech with no pause the audio can tell), they meet at the
    later window's own start.
    """
    order = sorted(range(len(edges)), key=lambda i: (spans[i][0], spans[i][1]))
    out = list(edges)
    prev: int | None = None
    for i in order:
        edge = out[i]
        s, e = float(spans[i][0]), float(spans[i][1])
        floor = out[prev].end_s if prev is not None else lo
        if edge.start_s < floor:
            if floor < edge.end_s - 0.5 * (e - s):
                edge = replace(edge, start_s=floor, start_rule="neighbour")
            elif prev is not None and out[prev].start_s < edge.start_s:
                # The earlier clip grew over this one's head: it ends where this one starts (a clean spot).
                out[prev] = replace(out[prev], end_s=edge.start_s, end_rule="neighbour")
            elif prev is not None and out[prev].start_s < (meet := _meeting_point(out[prev], edge, s)) < edge.end_s:
                out[prev] = replace(out[prev], end_s=meet, end_rule="neighbour")
                edge = replace(edge, start_s=meet, start_rule="neighbour")
            else:
                edge = replace(edge, start_s=round(max(s, floor), 3), end_s=round(max(e, s, floor), 3),
                               start_rule="kept", end_rule="kept")
        out[i] = edge
        prev = i
    return out
