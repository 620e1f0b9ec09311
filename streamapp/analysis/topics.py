"""Topic segmentation of a transcript, TextTiling-style (Hearst 1997), so a clip can cover one idea.

Words are grouped into pseudo-sentences of ``w`` words; at every gap between pseudo-sentences the
lexical cohesion of the ``k`` groups before and after is their cosine similarity. A gap whose
similarity sits in a deep valley (depth = rise to the highest point on the left + on the right) is a
topic shift; boundaries are the gaps whose depth exceeds mean + 1 std of all depths.
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter

import numpy as np

_WORD = re.compile(r"[a-z][a-z']+")
_STOP = frozenset(
    """
    a about above after again all also am an and any are as at be because been before being below between both
    but by can could did do does doing down during each few for from further had has have having he her here
    hers him his how i if in into is it its itself just like me more most my no nor not now of off on once
    only or other our out over own really right same she should so some such than that the their them then
    there these they this those through to too under until up very was we well were what when where which
    while who whom why will with would yeah yes you your oh um uh okay ok know think going get got go one
    thing things say said lot
    """.split()  # noqa: SIM905 (a word list reads better as text)
)


def _stem(token: str) -> str:
    # A crude suffix strip is enough for overlap counting: "clips", "clipped", "clipping" meet.
    for suffix in ("ing", "ed", "es", "s", "'s"):
        if token.endswith(suffix) and len(token) - len(suffix) >= 3:
            return token[: -len(suffix)]
    return token


def content_tokens(text: str) -> list[str]:
    """Lower-cased, stemmed content words of ``text`` (stop words dropped)."""
    return [_stem(t) for t in _WORD.findall(text.lower()) if t not in _STOP]


def _cosine(a: Counter, b: Counter) -> float:
    if not a or not b:
        return 0.0
    dot = sum(v * b.get(k, 0) for k, v in a.items())
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb) if na and nb else 0.0


def depth_scores(sims: list[float]) -> list[float]:
    """Depth of each similarity valley: (left peak - s) + (right peak - s), peaks found by climbing."""
    out = []
    for i, s in enumerate(sims):
        left = s
        j = i
        while j > 0 and sims[j - 1] >= left:
            left = sims[j - 1]
            j -= 1
        right = s
        j = i
        while j + 1 < len(sims) and sims[j + 1] >= right:
            right = sims[j + 1]
            j += 1
        out.append((left - s) + (right - s))
    return out


def topic_boundaries(
    words: list[dict],
    w: int = 20,
    k: int = 6,
    snap_to: list[float] | None = None,
    min_gap_s: float = 20.0,
    min_depth: float = 0.1,
) -> list[float]:
    """Times where the transcript changes topic (start of the first word of the new topic).

    ``snap_to`` (e.g. sentence starts) moves each boundary to the nearest such time. Short transcripts
    use smaller groups so there are enough gaps to compare. ``min_depth`` (cosine units) keeps the
    small wobbles of a single-topic talk from passing the relative mean + 1 std test.
    """
    n = len(words)
    if n < 100:  # under a minute or so of speech there is rarely more than one topic to find
        return []
    w = max(5, min(w, n // 12))
    groups = [words[i : i + w] for i in range(0, n, w)]
    if len(groups) < 4:
        return []
    k = max(2, min(k, len(groups) // 3))
    bags = [Counter(t for wd in g for t in content_tokens(wd["text"])) for g in groups]
    sims = []
    for gap in range(1, len(groups)):
        left = sum((bags[j] for j in range(max(0, gap - k), gap)), Counter())
        right = sum((bags[j] for j in range(gap, min(len(groups), gap + k))), Counter())
        sims.append(_cosine(left, right))
    # Light smoothing (as in TextTiling) so one odd group does not make a valley.
    smooth = [sum(sims[max(0, i - 1) : i + 2]) / len(sims[max(0, i - 1) : i + 2]) for i in range(len(sims))]
    depths = depth_scores(smooth)
    mean = sum(depths) / len(depths)
    std = math.sqrt(sum((d - mean) ** 2 for d in depths) / len(depths))
    cutoff = max(mean + std, min_depth)
    picked: list[float] = []
    # Deepest first, so a strong boundary wins over a weaker neighbour.
    for i in sorted(range(len(depths)), key=lambda i: -depths[i]):
        if depths[i] <= cutoff or depths[i] <= 0:
            break
        t = float(groups[i + 1][0]["start_s"])
        if snap_to:
            j = bisect.bisect_left(snap_to, t)
            near = [snap_to[x] for x in (j - 1, j) if 0 <= x < len(snap_to)]
            t = min(near, key=lambda s: abs(s - t)) if near else t
        first, last = float(words[0]["start_s"]), float(words[-1]["end_s"])
        if t - first < min_gap_s / 2 or last - t < min_gap_s / 2:
            continue  # a "topic" of a few seconds at either end is noise
        if all(abs(t - p) >= min_gap_s for p in picked):
            picked.append(t)
    return sorted(picked)


def embedding_boundaries(
    sentences: list[dict],
    vectors: np.ndarray,
    k: int = 2,  # chosen on bench/highlights.py's talks: k 2-5 and gaps 15/20 s compared there
    min_gap_s: float = 20.0,
    min_depth: float = 0.03,
) -> list[float]:
    """Topic shifts found by TextTiling over sentence embeddings: times of the first sentence of a new topic.

    At each gap between sentences, cohesion is the cosine of the summed (talk-mean-centred) vectors of the
    ``k`` sentences before and after; a gap in a valley deeper than mean + std/2 of all depths (and
    ``min_depth``, in cosine units) starts a topic. Sentences, not fixed word
    groups, are the units: a boundary always falls where a sentence starts. Meaning, not repeated words,
    decides, so a section that names its subject in other words still holds together.
    """
    n = len(sentences)
    if n < 2 * k + 2 or vectors.shape[0] != n:
        return []
    # Minus the talk's mean vector: every sentence of one talk shares a large common direction (cosines
    # of 0.8-0.9 throughout), which flattens the valleys; what is left is what sets sentences apart.
    v = np.asarray(vectors, np.float64)
    v = v - v.mean(axis=0)
    prefix = np.vstack([np.zeros((1, v.shape[1])), np.cumsum(v, axis=0)])
    gaps = list(range(k, n - k + 1))  # full blocks on both sides: a short block at either end is no valley
    sims = []
    for gap in gaps:
        left = prefix[gap] - prefix[gap - k]
        right = prefix[gap + k] - prefix[gap]
        sims.append(float(left @ right / max(1e-9, np.linalg.norm(left) * np.linalg.norm(right))))
    depths = depth_scores(sims)
    cutoff = max(float(np.mean(depths) + 0.5 * np.std(depths)), min_depth)
    first, last = float(sentences[0]["start_s"]), float(sentences[-1]["end_s"])
    picked: list[float] = []
    for i in sorted(range(len(depths)), key=lambda i: -depths[i]):
        if depths[i] <= cutoff:
            break
        t = float(sentences[gaps[i]]["start_s"])
        if t - first < min_gap_s / 2 or last - t < min_gap_s / 2:
            continue
        if all(abs(t - p) >= min_gap_s for p in picked):
            picked.append(t)
    return sorted(picked)
