"""Pure core of the score stage: candidate windows -> scored clips -> the best non-overlapping few."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field, replace

import numpy as np

from streamapp.stages.edges import refine_edges
from streamapp.stages.extract import Signals

# Default weight of each named sub-score (all 0-100). A weights dict (settings.score_weights) overrides
# names it gives; names it leaves out keep these defaults; a weight of 0 switches a factor off.
# A factor without data (no audio -> audio_energy/speech_density, no transcript -> topic_completeness,
# no keywords asked -> keyword_match, no face samples -> faces) drops out and the rest are re-normalised,
# so every window is judged on what is known rather than punished for what is not.
DEFAULT_WEIGHTS: dict[str, float] = {
    "hook": 0.20,  # the first seconds: speech starts promptly, loudness/motion up, a question or strong word
    "audio_energy": 0.25,  # loudness vs the rest of the video, plus sudden bursts (laughter, applause)
    "speech_density": 0.10,  # share of the window with someone speaking
    "motion": 0.10,  # picture activity (cuts excluded)
    "faces": 0.05,  # share of sampled frames with a face on screen
    "topic_completeness": 0.10,  # the window stays inside one topic of the transcript
    "keyword_match": 0.30,  # steering keywords said inside the window (only when keywords are given)
    "boundaries": 0.10,  # edges on sentence ends, shot cuts or silences, never mid-word
    "standalone": 0.10,  # the first sentence needs no earlier context (no "and", "but", "he" opening)
    "payoff": 0.10,  # the last sentence concludes (a lesson, a tip, a punchline), not a setup left open
}
_DEAD_AIR = 15.0  # speech_density under which a window of a talk is not offered as a clip
HOOK_S = 3.0  # the opening that decides whether a viewer keeps watching
_LOUD_FLOOR_DB = -60.0  # below this everything counts as silence; keeps digital zeros from dominating means
_EDGE_SNAP_S = 0.25  # an edge this close to a cut or silence counts as landing on it
_WORD_EDGE_S = 0.02  # an edge this far inside a word counts as cutting it
_EPS = 1e-6
_STRONG_WORDS = frozenset(
    """
    why how what secret never always best worst biggest mistake truth actually imagine stop listen wow amazing
    crazy insane incredible important problem question surprising wrong
    """.split()  # noqa: SIM905 (a word list reads better as text)
)


@dataclass(frozen=True)
class ClipOptions:
    """How a job steers clip choice. ``range_*`` limit clips to a part of the video (seconds)."""

    max_clips: int = 5
    min_duration_s: float = 15.0
    max_duration_s: float = 60.0
    keywords: tuple[str, ...] = ()
    range_start_s: float | None = None
    range_end_s: float | None = None

    @classmethod
    def from_dict(cls, options: dict | None) -> ClipOptions:
        """From a job's options dict (unknown keys such as aspect or captions are ignored)."""
        o = dict(options or {})
        kw = o.get("keywords") or ()
        fields = {k: o[k] for k in ("max_clips", "min_duration_s", "max_duration_s", "range_start_s",
                                    "range_end_s") if o.get(k) is not None}
        return cls(keywords=tuple(str(k) for k in kw), **fields)


@dataclass(frozen=True)
class Candidate:
    """A scored clip window. ``score`` and every subscore are 0-100. ``title``: from its key sentence."""

    start_s: float
    end_s: float
    score: float
    subscores: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    title: str = ""

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def to_dict(self) -> dict:
        return {
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "duration_s": round(self.end_s - self.start_s, 3),
            "score": self.score,
            "subscores": dict(self.subscores),
            "reason": self.reason,
            "title": self.title,
        }


def build_windows(
    duration_s: float, boundaries_s: list[float], min_d: float, max_d: float, step_s: float = 1.0
) -> list[tuple[float, float]]:
    """Candidate ``(start, end)`` windows with min_d <= length <= max_d inside [0, duration_s].

    Edges are boundary times (cuts, silence edges, 0 and the end) and, where no boundary is within
    half a step, points of a regular ``step_s`` grid. A video shorter than ``min_d`` gives one
    window: the whole video. Times are rounded to the millisecond, so lengths hold to +/- 1 ms.
    The result is sorted and free of duplicates.
    """
    if duration_s <= 0 or max_d <= 0:
        return []
    duration = round(float(duration_s), 3)
    if duration < min_d:
        return [(0.0, duration)]
    step = max(float(step_s), 0.01)
    bounds = sorted({round(float(b), 3) for b in boundaries_s if 0.0 <= b <= duration} | {0.0, duration})
    points = set(bounds)
    for k in range(int(math.floor(duration / step)) + 1):
        g = round(k * step, 3)
        i = bisect.bisect_left(bounds, g)
        near = min(abs(g - bounds[j]) for j in (i - 1, i) if 0 <= j < len(bounds))
        if near > step / 2:  # a boundary nearby is a better edge than this grid point
            points.add(g)
    pts = sorted(points)
    windows: list[tuple[float, float]] = []
    for i, s in enumerate(pts):
        j = bisect.bisect_left(pts, s + min_d - _EPS, lo=i + 1)
        while j < len(pts) and pts[j] - s <= max_d + _EPS:
            windows.append((s, pts[j]))
            j += 1
    if not windows:
        # The edge points admit no allowed length (e.g. min_d == max_d off the grid): slide one
        # fixed-length window over the grid instead.
        length = round(min(float(max_d), duration), 3)
        starts = {round(k * step, 3) for k in range(int(math.floor((duration - length) / step + _EPS)) + 1)}
        starts.add(round(duration - length, 3))
        windows = [(s, round(s + length, 3)) for s in sorted(starts) if s + length <= duration + _EPS]
    return windows


def _rank(sorted_dist: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Percentile rank (0-100) of each value within a sorted distribution (mid-rank for ties)."""
    if sorted_dist.size == 0:
        return np.full(values.shape, 50.0)
    lo = np.searchsorted(sorted_dist, values, side="left")
    hi = np.searchsorted(sorted_dist, values, side="right")
    return 100.0 * (lo + hi) / (2.0 * sorted_dist.size)


class _Series:
    """A per-sample signal with prefix sums: O(1) mean over any time span."""

    def __init__(self, times: np.ndarray, values: np.ndarray, span_s: float) -> None:
        self.times = times
        self.values = values.astype(np.float64)
        self.prefix = np.concatenate([[0.0], np.cumsum(self.values)])
        # Distribution of one-second means: the yardstick a window's mean is ranked against.
        n = max(1, int(math.ceil(span_s)))
        starts = np.arange(n, dtype=np.float64)
        self.dist = np.sort(self.mean(starts, np.minimum(starts + 1.0, span_s)))

    def mean(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        a = np.searchsorted(self.times, start, side="left")
        b = np.searchsorted(self.times, end, side="left")
        b = np.maximum(b, np.minimum(a + 1, self.values.size))  # at least one sample when any exist
        count = np.maximum(b - a, 1)
        out = (self.prefix[b] - self.prefix[a]) / count
        return np.where(b > a, out, np.nan if self.values.size == 0 else out)

    def rank(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        return _rank(self.dist, self.mean(start, end))


def _motion_without_cuts(signals: Signals) -> np.ndarray:
    # The difference at a cut is a change of shot, not motion: give that frame its predecessor's value.
    motion = np.asarray(signals.motion, dtype=np.float64).copy()
    times = np.asarray(signals.frame_times_s, dtype=np.float64)
    for c in signals.cuts_s:
        i = int(np.searchsorted(times, c - _EPS))
        if 0 < i < motion.size:
            motion[i] = motion[i - 1]
    return motion


def _words_arrays(words: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    starts = np.array([float(w["start_s"]) for w in words], dtype=np.float64)
    ends = np.array([float(w["end_s"]) for w in words], dtype=np.float64)
    return starts, ends


def _inside_word(t: np.ndarray, w_start: np.ndarray, w_end: np.ndarray) -> np.ndarray:
    """True where time t falls strictly inside a word (by more than _WORD_EDGE_S)."""
    if w_start.size == 0:
        return np.zeros(t.shape, dtype=bool)
    i = np.searchsorted(w_start, t, side="right") - 1  # the last word starting at or before t
    ok = i >= 0
    ii = np.clip(i, 0, w_start.size - 1)
    return ok & (t > w_start[ii] + _WORD_EDGE_S) & (t < w_end[ii] - _WORD_EDGE_S)


def _near(t: np.ndarray, points: np.ndarray, tol: float) -> np.ndarray:
    if points.size == 0:
        return np.zeros(t.shape, dtype=bool)
    i = np.clip(np.searchsorted(points, t), 1, points.size) - 1
    j = np.clip(i + 1, 0, points.size - 1)
    return np.minimum(np.abs(t - points[i]), np.abs(t - points[j])) <= tol


def _edge_quality(
    t: np.ndarray, signals: Signals, loud: _Series | None, quiet_db: float, sentence_edges: np.ndarray
) -> np.ndarray:
    """1 on a cut, silence, sentence edge or the video's ends; 0.6 in a quiet spot; 0 mid-sound or mid-word."""
    good = (t <= _EDGE_SNAP_S) | (t >= signals.duration_s - _EDGE_SNAP_S)
    cuts = np.asarray(sorted(signals.cuts_s), dtype=np.float64)
    good |= _near(t, cuts, max(_EDGE_SNAP_S, 1.5 / max(signals.fps, 1.0)))
    for a, b in signals.silences:
        good |= (t >= a - _EDGE_SNAP_S) & (t <= b + _EDGE_SNAP_S)
    good |= _near(t, sentence_edges, 0.15)
    if signals.words:
        ws, we = _words_arrays(signals.words)
        mid_word = _inside_word(t, ws, we)
    else:
        mid_word = np.zeros(t.shape, dtype=bool)
    if loud is None:
        # Without audio only cuts (and the ends) tell good edges; elsewhere be neutral.
        return np.where(good, 1.0, np.where(mid_word, 0.0, 0.5))
    around = loud.mean(np.maximum(t - 0.1, 0.0), t + 0.1)
    return np.where(mid_word, 0.0, np.where(good, 1.0, np.where(around < quiet_db, 0.6, 0.0)))


_PHRASES = {
    "hook": "strong opening",
    "audio_energy": "energetic audio",
    "speech_density": "dense speech",
    "motion": "lively picture",
    "faces": "faces on screen",
    "topic_completeness": "one complete idea",
    "keyword_match": "keyword match",
    "boundaries": "clean start and end",
    "standalone": "stands on its own",
    "payoff": "pays off",
}
_WEAK = {
    "hook": "slow opening",
    "audio_energy": "quiet audio",
    "speech_density": "little speech",
    "motion": "static picture",
    "faces": "no faces",
    "topic_completeness": "spans several topics",
    "keyword_match": "no keyword",
    "boundaries": "cuts mid-sentence",
    "standalone": "opens mid-thought",
    "payoff": "ends before the point",
}


def _reason(sub: dict[str, float], weights: dict[str, float], n_cuts: int, extras: list[str]) -> str:
    """One line: the factors that lifted the score most (weight x value), one weakness, the shot count."""
    used = {k: v for k, v in sub.items() if weights.get(k, 0.0) > 0}
    top = sorted(used, key=lambda k: (-weights[k] * used[k], k))[:3]
    parts = [f"{_PHRASES[k]} ({used[k]:.0f})" for k in top if used[k] >= 50]
    text = "Top factors: " + ", ".join(parts) if parts else "No standout factor"
    if extras:
        text += "; " + ", ".join(extras)
    weak = [k for k in sorted(used, key=lambda k: used[k]) if used[k] < 35 and weights[k] >= 0.1]
    if weak:
        text += f"; weak: {_WEAK[weak[0]]}"
    shots = "1 shot change" if n_cuts == 1 else f"{n_cuts} shot changes"
    return f"{text}; {shots}"


@dataclass
class _Scored:
    """Scores of many windows as arrays (cheap), turned into Candidates only when needed."""

    windows: list[tuple[float, float]]
    total: np.ndarray  # rounded to 0.1, 0-100
    columns: dict[str, np.ndarray]  # rounded to 0.1, 0-100
    n_cuts: np.ndarray
    weights: dict[str, float]  # the weights actually used (factors without data removed)
    has_burst: np.ndarray
    keyword_hits: np.ndarray
    question_hook: np.ndarray
    story: _Story | None = None
    dead_air: np.ndarray | None = None  # windows of a talk where (almost) nothing is said

    def candidate(self, i: int) -> Candidate:
        sub = {k: float(v[i]) for k, v in self.columns.items()}
        story = self.story.phrases(i) if self.story is not None else []
        extras = []
        if self.has_burst[i]:
            extras.append("loud moment (burst)")
        if self.keyword_hits[i]:
            extras.append(f"{int(self.keyword_hits[i])} keyword mention{'s' if self.keyword_hits[i] > 1 else ''}")
        if self.question_hook[i] and not story:
            extras.append("opens with a question or strong word")
        s, e = self.windows[i]
        reason = _reason(sub, self.weights, int(self.n_cuts[i]), extras)
        if story:  # what the viewer gets first, in their terms; the factor figures after it
            reason = "; ".join(story) + ". " + reason
        title = self.story.title(i) if self.story is not None else ""
        return Candidate(float(s), float(e), float(self.total[i]), sub, reason, title)


class _Story:
    """The transcript's sentences seen from each window: which sentence opens it, which closes it, and
    what those do for a viewer (analysis/narrative.py). Arrays over windows; cheap for 200k of them."""

    def __init__(self, signals: Signals, starts: np.ndarray, ends: np.ndarray) -> None:
        from streamapp.analysis.narrative import sentence_traits
        from streamapp.analysis.transcript import split_sentences

        self.sentences = split_sentences(signals.words)
        self.traits = sentence_traits(self.sentences)
        vectors = np.asarray(signals.sentence_vectors)
        self.vectors = vectors if vectors.ndim == 2 and vectors.shape[0] == len(self.sentences) else None
        s_start = np.array([x["start_s"] for x in self.sentences], dtype=np.float64)
        s_end = np.array([x["end_s"] for x in self.sentences], dtype=np.float64)
        self.starts, self.ends = starts, ends
        self.first = np.searchsorted(s_start, starts - _EDGE_SNAP_S)  # first sentence starting in the window
        self.last = np.searchsorted(s_end, ends + _EDGE_SNAP_S, side="right") - 1  # last one ending in it
        self.valid = self.first <= self.last
        f = np.clip(self.first, 0, len(self.sentences) - 1)
        la = np.clip(self.last, 0, len(self.sentences) - 1)
        hook = np.array([t.hook for t in self.traits])
        dangling = np.array([t.dangling for t in self.traits])
        payoff = np.array([t.payoff for t in self.traits])
        self.opening_hook = np.where(self.valid, hook[f], 0.0)
        self.standalone = np.where(self.valid, np.where(dangling[f], 0.0, 100.0), 50.0)
        self.payoff = np.where(self.valid, payoff[la], 50.0)

    def keyword_meaning(self, query: KeywordQuery) -> np.ndarray:
        """0-100 per window: how close the meaning of its sentences is to any keyword.

        A window's meaning is the direction of the sum of its sentence vectors less the talk's mean sentence
        vector (as for topic boundaries, analysis/topics.py): every sentence of one talk shares a large common
        direction, and garbled ASR text sits close to every short query (hubness), so only what sets the window
        apart from the rest of the talk is compared with the keyword. Chosen on bench/highlights.py: all 28
        unspoken keywords find their section on transcripts and through Whisper (a correction by closeness to
        everyday words instead: 28 and 26; both together: 28 and 26). Per keyword, the best window scores 100
        and windows at or below the median 0. Windows sharing their first and last sentence share the value,
        so the sums are made once per such pair.
        """
        if self.vectors is None or not query.vectors.size or not self.sentences:
            return np.zeros(self.first.size)
        v = np.asarray(self.vectors, np.float64)
        v = v - v.mean(axis=0)
        prefix = np.vstack([np.zeros((1, v.shape[1])), np.cumsum(v, axis=0)])
        lo = np.clip(self.first, 0, len(self.sentences))
        hi = np.clip(self.last + 1, 0, len(self.sentences))
        pairs, back = np.unique(np.stack([lo, hi], axis=1), axis=0, return_inverse=True)
        sums = prefix[pairs[:, 1]] - prefix[pairs[:, 0]]
        norms = np.linalg.norm(sums, axis=1)
        cos = (sums @ np.asarray(query.vectors, np.float64).T) / np.maximum(norms, 1e-9)[:, None]
        cos = np.where((norms > 0)[:, None], cos, -np.inf)[np.ravel(back)]  # (windows, keywords)
        cos = np.where(self.valid[:, None], cos, -np.inf)
        best = cos.max(axis=0)
        median = np.median(cos[self.valid], axis=0) if self.valid.any() else best
        value = (cos - median) / np.maximum(best - median, 1e-9)
        return 100.0 * np.clip(np.nan_to_num(value.max(axis=1), neginf=0.0), 0.0, 1.0)

    def phrases(self, i: int) -> list[str]:
        """What the clip does, in a viewer's words, for the reason line."""
        if not self.valid[i]:
            return []
        out = []
        opening, closing = self.traits[self.first[i]], self.traits[self.last[i]]
        if opening.hook_kind:
            out.append({"question": "opens with a question", "number": "opens with a number promise",
                        "claim": "opens with a bold claim",
                        "direct address": "opens by talking to the viewer"}[opening.hook_kind])
        if opening.dangling:
            out.append("opens on a reference to something earlier")
        if closing.payoff_kind in ("conclusion", "tip"):
            out.append("pays off with " + ("a conclusion" if closing.payoff_kind == "conclusion" else "a concrete tip"))
        elif closing.payoff < 20:
            out.append("ends on an open question")
        return out

    def title(self, i: int) -> str:
        from streamapp.analysis.narrative import key_sentence, title

        if self.valid[i]:
            k = key_sentence(self.sentences, int(self.first[i]), int(self.last[i]), self.vectors, self.traits)
            return title(self.sentences[k]["text"])
        # No whole sentence inside (one long sentence cut at either edge): the one it holds most of.
        overlap = [min(float(self.ends[i]), s["end_s"]) - max(float(self.starts[i]), s["start_s"])
                   for s in self.sentences]
        best = int(np.argmax(overlap)) if overlap else -1
        return title(self.sentences[best]["text"]) if best >= 0 and overlap[best] > 0 else ""



def _keyword_hits(words: list[dict], keywords: tuple[str, ...]) -> np.ndarray:
    """1 per word that matches a keyword (case-insensitive, stemmed, punctuation ignored)."""
    from streamapp.analysis.topics import content_tokens

    want_single = set()
    want_phrases = []
    for k in keywords:
        toks = content_tokens(k) or [k.lower().strip()]
        (want_single.add(toks[0]) if len(toks) == 1 else want_phrases.append(toks))
    toks = [content_tokens(w["text"]) for w in words]
    flat = [t[0] if t else "" for t in toks]
    hits = np.array([1.0 if f and f in want_single else 0.0 for f in flat])
    for phrase in want_phrases:  # a phrase counts once, on its first word
        n = len(phrase)
        for i in range(len(flat) - n + 1):
            if flat[i : i + n] == phrase:
                hits[i] = 1.0
    return hits


def _hook_words(words: list[dict], starts: np.ndarray) -> np.ndarray:
    """1 where the first sentence after a window start (within HOOK_S) has a question mark or strong word."""
    from streamapp.analysis.topics import content_tokens
    from streamapp.analysis.transcript import sentence_last_words

    if not words:
        return np.zeros(starts.size)
    ws, _ = _words_arrays(words)
    # Per word: does the sentence it belongs to contain a "?" or a strong word? Mark from its first word.
    flag = np.zeros(len(words))
    first = 0
    for last in sentence_last_words(words):
        sent = words[first : last + 1]
        hot = any("?" in x["text"] for x in sent) or any(
            t in _STRONG_WORDS for x in sent for t in content_tokens(x["text"]) + [x["text"].lower().strip(".,!?")]
        )
        flag[first : last + 1] = 1.0 if hot else 0.0
        first = last + 1
    j = np.searchsorted(ws, starts - _EDGE_SNAP_S)  # first word at/after the window start
    ok = (j < ws.size)
    jj = np.clip(j, 0, ws.size - 1)
    return np.where(ok & (ws[jj] < starts + HOOK_S), flag[jj], 0.0)


def _spans_overlap_len(spans: list[tuple[float, float]], starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    out = np.zeros(starts.size)
    for a, b in spans:
        out += np.clip(np.minimum(ends, b) - np.maximum(starts, a), 0.0, None)
    return out


def _score_arrays(
    signals: Signals,
    windows: list[tuple[float, float]],
    weights: dict[str, float] | None,
    keywords: tuple[str, ...] = (),
    keyword_query: KeywordQuery | None = None,
) -> _Scored:
    w = {**DEFAULT_WEIGHTS, **(weights or {})}
    starts = np.array([s for s, _ in windows], dtype=np.float64)
    ends = np.array([e for _, e in windows], dtype=np.float64)
    span = max(float(signals.duration_s), float(ends.max()), _EPS)
    hook_end = np.minimum(starts + HOOK_S, ends)
    columns: dict[str, np.ndarray] = {}

    times = np.asarray(signals.frame_times_s, dtype=np.float64)
    motion = _Series(times, _motion_without_cuts(signals), span)
    m_win, m_hook = motion.mean(starts, ends), motion.mean(starts, hook_end)
    columns["motion"] = _rank(motion.dist, m_win)
    # Opening vs the rest of the window: a ratio of 2 (one octave) is a clearly stronger start.
    m_rel = 50.0 + 50.0 * np.tanh(np.log2((m_hook + 0.5) / (m_win + 0.5)))
    hook = 0.5 * _rank(motion.dist, m_hook) + 0.5 * m_rel

    loud: _Series | None = None
    has_audio = bool(signals.has_audio and np.asarray(signals.loudness_db).size)
    quiet_db = _LOUD_FLOOR_DB
    burst_s = _spans_overlap_len(signals.bursts, starts, ends)
    if has_audio:
        db = np.maximum(np.asarray(signals.loudness_db, dtype=np.float64), _LOUD_FLOOR_DB)
        hop_times = np.arange(db.size, dtype=np.float64) * signals.hop_s
        loud = _Series(hop_times, db, span)
        l_win, l_hook = loud.mean(starts, ends), loud.mean(starts, hook_end)
        # A burst (laughter, applause, a shout) is the moment people share: up to +25 for a second of it.
        columns["audio_energy"] = 0.75 * _rank(loud.dist, l_win) + 25.0 * np.minimum(burst_s, 1.0)
        # 6 dB louder than the window on average is a clearly stronger opening.
        l_rel = 50.0 + 50.0 * np.tanh((l_hook - l_win) / 6.0)
        hook = 0.5 * hook + 0.5 * (0.5 * _rank(loud.dist, l_hook) + 0.5 * l_rel)
        quiet_db = float(np.median(db)) - 15.0
        speech = np.asarray(signals.speech, dtype=np.float64)
        if speech.size:
            sp = _Series(np.arange(speech.size, dtype=np.float64) * signals.hop_s, speech, span)
            columns["speech_density"] = 100.0 * np.nan_to_num(sp.mean(starts, ends))
            # Speech within the first second: the viewer hears someone at once.
            prompt = 100.0 * np.nan_to_num(sp.mean(starts, np.minimum(starts + 1.0, ends)))
            hook = 0.75 * hook + 0.25 * prompt
    question = np.zeros(starts.size)
    dead_air = np.zeros(starts.size, dtype=bool)
    story = _Story(signals, starts, ends) if signals.words else None
    if signals.words:
        question = _hook_words(signals.words, starts)
        hook = np.minimum(100.0, hook + 20.0 * question)
    if story is not None:
        # What the first sentence says weighs as much as how the opening sounds and moves.
        hook = np.where(story.valid, 0.6 * hook + 0.4 * story.opening_hook, hook)
        columns["standalone"] = story.standalone
        columns["payoff"] = story.payoff
    columns["hook"] = hook

    if np.asarray(signals.face_times_s).size:
        faces = _Series(np.asarray(signals.face_times_s, dtype=np.float64),
                        (np.asarray(signals.faces) > 0).astype(np.float64), span)
        columns["faces"] = 100.0 * np.nan_to_num(faces.mean(starts, ends))

    sentence_edges = np.zeros(0)
    kw_hits = np.zeros(starts.size)
    if signals.words:
        from streamapp.analysis.transcript import sentence_ends, sentence_starts

        sentence_edges = np.unique(np.array(sentence_ends(signals.words) + sentence_starts(signals.words)))
        topics = np.asarray(sorted(signals.topics_s), dtype=np.float64)
        # Topic boundaries well inside the window (2 s margin) mean it mixes ideas: -50 for each.
        inside = np.searchsorted(topics, ends - 2.0) - np.searchsorted(topics, starts + 2.0)
        columns["topic_completeness"] = 100.0 - 50.0 * np.clip(inside, 0, 2)
    if keywords:
        if signals.words:
            ws, _ = _words_arrays(signals.words)
            prefix = np.concatenate([[0.0], np.cumsum(_keyword_hits(signals.words, keywords))])
            kw_hits = prefix[np.searchsorted(ws, ends)] - prefix[np.searchsorted(ws, starts)]
        # One mention is a match (50); three make the window clearly about the keyword (100).
        lexical = np.where(kw_hits > 0, 50.0 + 50.0 * np.minimum(kw_hits - 1, 2.0) / 2.0, 0.0)
        # By meaning too: a section about light and windows matches "sunlight" without saying it.
        meaning = story.keyword_meaning(keyword_query) if story is not None and keyword_query is not None \
            else np.zeros(starts.size)
        columns["keyword_match"] = np.maximum(lexical, meaning)
    columns["boundaries"] = 50.0 * (
        _edge_quality(starts, signals, loud, quiet_db, sentence_edges)
        + _edge_quality(ends, signals, loud, quiet_db, sentence_edges)
    )

    columns = {k: np.clip(np.nan_to_num(v, nan=0.0), 0.0, 100.0) for k, v in columns.items()}
    used = {k: float(v) for k, v in w.items() if k in columns and v > 0}
    total = np.zeros(starts.size)
    for k, v in used.items():
        total += v * columns[k]
    total_w = sum(used.values())
    total = total / total_w if total_w > 0 else total
    if "speech_density" in columns and signals.words:
        # In a video that is mostly talk, a window with little talk is dead air, whatever else it has:
        # under half the window spoken scales its score down, to 40 % of it when nothing is said.
        spoken = np.asarray(signals.speech, dtype=np.float64)
        if spoken.size and float(spoken.mean()) >= 0.3:
            total = total * np.clip(0.4 + 0.6 * columns["speech_density"] / 50.0, 0.4, 1.0)
            dead_air = columns["speech_density"] < _DEAD_AIR
    if not has_audio:
        columns["audio_energy"] = np.zeros(starts.size)  # reported as 0, not weighed (no sound at all)

    cuts = np.asarray(sorted(signals.cuts_s), dtype=np.float64)
    n_cuts = np.searchsorted(cuts, ends - _EPS) - np.searchsorted(cuts, starts + _EPS)
    return _Scored(
        windows=windows,
        total=np.round(np.clip(total, 0.0, 100.0), 1),
        columns={k: np.round(v, 1) for k, v in columns.items()},
        n_cuts=n_cuts,
        weights=used,
        has_burst=burst_s > 0.2,
        keyword_hits=kw_hits,
        question_hook=question > 0,
        story=story,
        dead_air=dead_air,
    )


def score_windows(
    signals: Signals,
    windows: list[tuple[float, float]],
    weights: dict[str, float] | None = None,
    keywords: tuple[str, ...] = (),
) -> list[Candidate]:
    """Score each window; the sub-scores are the DEFAULT_WEIGHTS names that have data (each 0-100)."""
    if not windows:
        return []
    scored = scored_windows(signals, windows, weights, keywords)
    return [scored.candidate(i) for i in range(len(windows))]


def scored_windows(
    signals: Signals,
    windows: list[tuple[float, float]],
    weights: dict[str, float] | None = None,
    keywords: tuple[str, ...] = (),
) -> _Scored:
    """The scores of non-empty ``windows`` as arrays (``total``, ``dead_air``); ``candidate(i)`` makes one a
    Candidate. For callers that choose among many windows themselves (live mode)."""
    return _score_arrays(signals, windows, weights, tuple(keywords), keyword_query(signals, tuple(keywords)))


@dataclass(frozen=True)
class KeywordQuery:
    """Steering keywords by meaning: their query vectors (k, DIM)."""

    vectors: np.ndarray


def keyword_query(signals: Signals, keywords: tuple[str, ...]) -> KeywordQuery | None:
    """The keywords' vectors, when the transcript has sentence vectors to match them to."""
    if not keywords or np.asarray(signals.sentence_vectors).size == 0:
        return None
    from streamapp.analysis import embeddings

    if np.asarray(signals.sentence_vectors).shape[1] != embeddings.DIM:
        return None  # signals of an older streamapp, in another vector space: steering by string only
    try:
        return KeywordQuery(embeddings.embed_queries(list(keywords)))
    except embeddings.EmbeddingsUnavailable:
        return None


def _overlaps(start: float, end: float, chosen: list[tuple[float, float]]) -> bool:
    return any(not (end <= s + _EPS or start >= e - _EPS) for s, e in chosen)


def select_top(cands: list[Candidate], max_clips: int) -> list[Candidate]:
    """Greedy best-first choice of up to ``max_clips`` non-overlapping candidates.

    Ties go to the earlier start (then the shorter clip), so the result is deterministic; it is
    returned best first. Windows that only touch do not overlap.
    """
    chosen: list[Candidate] = []
    spans: list[tuple[float, float]] = []
    for c in sorted(cands, key=lambda c: (-c.score, c.start_s, c.end_s)):
        if len(chosen) >= max_clips:
            break
        if not _overlaps(c.start_s, c.end_s, spans):
            chosen.append(c)
            spans.append((c.start_s, c.end_s))
    return chosen


def clip_boundaries(signals: Signals) -> list[float]:
    """Natural clip edges: shot cuts, silence starts and ends, topic boundaries, sentence starts and ends."""
    pts = list(signals.cuts_s)
    for a, b in signals.silences:
        pts.extend((a, b))
    pts.extend(signals.topics_s)
    if signals.words:
        from streamapp.analysis.transcript import sentence_ends, sentence_starts

        pts.extend(sentence_ends(signals.words))
        pts.extend(sentence_starts(signals.words))
    return sorted(pts)


def candidate_windows(signals: Signals, options: ClipOptions) -> list[tuple[float, float]]:
    """Windows for ``options``: inside the time range, edges on natural boundaries, never mid-word."""
    # Times are kept to the millisecond: round the range inwards so no edge falls outside it.
    lo = math.ceil(max(0.0, float(options.range_start_s or 0.0)) * 1000.0 - 1e-6) / 1000.0
    hi = float(signals.duration_s)
    if options.range_end_s is not None:
        hi = min(hi, math.floor(float(options.range_end_s) * 1000.0 + 1e-6) / 1000.0)
    if hi - lo <= 0:
        return []
    span = math.floor((hi - lo) * 1000.0 + 1e-6) / 1000.0  # build_windows rounds to the ms: never past hi
    bounds = [b - lo for b in clip_boundaries(signals) if lo <= b <= hi]
    windows = build_windows(span, bounds, options.min_duration_s, options.max_duration_s)
    if lo > 0:
        windows = [(round(s + lo, 3), round(e + lo, 3)) for s, e in windows]
    if signals.words and windows:
        ws, we = _words_arrays(signals.words)
        arr = np.asarray(windows)
        bad = _inside_word(arr[:, 0], ws, we) | _inside_word(arr[:, 1], ws, we)
        if not bad.all():  # keep the mid-word ones only if nothing else exists
            windows = [w for w, b in zip(windows, bad, strict=True) if not b]
    return windows


def _pick(windows: list[tuple[float, float]], order: np.ndarray, max_clips: int,
          topic: np.ndarray | None) -> list[int]:
    """Best-first non-overlapping windows. With topics, one clip per topic first, so the chosen clips do
    not repeat one idea while another is on offer; then the best of the rest."""
    spans: list[tuple[float, float]] = []
    picked: list[int] = []
    rounds = [True, False] if topic is not None and np.unique(topic).size > 1 else [False]
    for diverse in rounds:
        seen = {int(topic[i]) for i in picked} if topic is not None else set()
        for i in order:
            if len(picked) >= max_clips:
                break
            s, e = windows[i]
            if diverse and int(topic[i]) in seen:
                continue
            if not _overlaps(s, e, spans):
                spans.append((s, e))
                picked.append(int(i))
                if topic is not None:
                    seen.add(int(topic[i]))
    rank = np.empty(len(windows), dtype=np.int64)
    rank[order] = np.arange(order.size)
    return sorted(picked, key=lambda i: int(rank[i]))  # best first, whichever round picked it


def score(
    signals: Signals, options: ClipOptions, weights: dict[str, float] | None = None, refine: bool = True
) -> list[Candidate]:
    """Build candidate windows, score them and keep the best non-overlapping ``max_clips``.

    With ``refine`` (the default) each chosen clip's edges are then moved into the pauses around its
    speech and away from shot cuts (``streamapp.stages.edges.refine_edges``): the returned start_s/end_s
    are the true edges, so a clip may be a margin (~0.15 s before, ~0.3 s after) longer than the max
    duration, and shorter than the min only where the silence around it is too short to give back;
    score, subscores and reason are the window's.
    Without ``refine`` the result equals ``select_top(score_windows(...))``, but only the chosen windows
    become Candidate objects: an hour of video has ~200k windows.
    """
    windows = candidate_windows(signals, options)
    if not windows or options.max_clips <= 0:
        return []
    keywords = tuple(options.keywords)
    scored = _score_arrays(signals, windows, weights, keywords, keyword_query(signals, keywords))
    starts = np.array([s for s, _ in windows])
    ends = np.array([e for _, e in windows])
    order = np.lexsort((ends, starts, -scored.total))  # score desc, then earlier start, then shorter
    if scored.dead_air is not None and not scored.dead_air.all():
        order = order[~scored.dead_air[order]]  # a creator posts no silent clip of a talk; fewer is better
    # The topic each window's middle falls in (0 = before the first boundary); none without a transcript.
    topic = None if scored.story is None else np.searchsorted(
        np.asarray(sorted(signals.topics_s), dtype=np.float64), (starts + ends) / 2.0)
    picked = _pick(windows, order, options.max_clips, topic)
    chosen = [scored.candidate(i) for i in picked]
    if not refine:
        return chosen
    edges = refine_edges(signals, [(c.start_s, c.end_s) for c in chosen], (options.range_start_s, options.range_end_s),
                         min_s=options.min_duration_s)
    return [replace(c, start_s=e.start_s, end_s=e.end_s) for c, e in zip(chosen, edges, strict=True)]
