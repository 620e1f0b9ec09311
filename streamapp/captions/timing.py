"""Transcript words to caption lines: clip-relative times, clamped to the clip, 2-5 words a line."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

_SENTENCE_END = re.compile(r"[.!?…]['\"”’)]*$")
_CLAUSE_END = re.compile(r"[,;:—–]['\"”’)]*$")


@dataclass(frozen=True)
class Word:
    start: float  # clip time, s
    end: float
    text: str


@dataclass(frozen=True)
class Line:
    start: float
    end: float
    words: tuple[Word, ...]

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


ZERO_WORD_S = 0.2  # the duration a zero-length ASR word gets, from the free time around it


def clip_words(words: Iterable[Mapping[str, object]], start_s: float, end_s: float) -> list[Word]:
    """Words ``[{start_s, end_s, text}]`` in source time, as clip-time Words inside [0, end_s - start_s].

    A word belongs to the clip when its middle does; its times are then cut at the clip's edges,
    so no caption starts before the clip or outlasts it. Words are kept in order and never overlap.
    A zero-length word (Whisper sometimes gives start == end) is kept: it gets up to ``ZERO_WORD_S``
    from the free time after it, then before it, never overlapping its neighbours.
    """
    duration = end_s - start_s
    spans: list[list] = []  # [a, b, text]
    for w in words:
        text = str(w.get("text", "")).strip()
        a, b = float(w["start_s"]), float(w["end_s"])  # type: ignore[arg-type]
        if not text or b < a or not start_s <= (a + b) / 2 < end_s:
            continue
        a, b = max(0.0, a - start_s), min(duration, b - start_s)
        if spans and a < spans[-1][1]:
            a = spans[-1][1]  # overlapping ASR words: keep cues ordered
        spans.append([a, max(a, b), text])
    for i, span in enumerate(spans):
        a, b, _ = span
        if b - a >= 0.01:
            continue
        after = spans[i + 1][0] if i + 1 < len(spans) else duration
        b = max(b, min(after, a + ZERO_WORD_S))
        before = spans[i - 1][1] if i else 0.0
        a = min(a, max(before, b - ZERO_WORD_S))
        span[0], span[1] = a, b
    return [Word(round(a, 3), round(b, 3), text) for a, b, text in spans]


def group_lines(
    words: Sequence[Word],
    max_words: int = 4,
    measure: Callable[[str], float] | None = None,
    max_width: float = float("inf"),
    gap_s: float = 0.6,
    hold_s: float = 0.35,
    duration_s: float | None = None,
) -> list[Line]:
    """Lines of at most ``max_words`` that fit ``max_width`` (by ``measure``), broken at pauses and punctuation.

    A line shows from its first word's start; it stays up to ``hold_s`` past its last word, never
    into the next line nor past ``duration_s``, so short gaps don't flicker.
    """
    groups: list[list[Word]] = []
    cur: list[Word] = []
    for w in words:
        if cur:
            text = " ".join(x.text for x in [*cur, w])
            full = len(cur) >= max_words or (measure is not None and measure(text) > max_width)
            pause = w.start - cur[-1].end > gap_s
            # Break after a sentence end, or after a clause end once the line has two words.
            punct = bool(_SENTENCE_END.search(cur[-1].text)) or (
                len(cur) >= 2 and bool(_CLAUSE_END.search(cur[-1].text))
            )
            if full or pause or punct:
                groups.append(cur)
                cur = []
        cur.append(w)
    if cur:
        groups.append(cur)
    lines: list[Line] = []
    for i, g in enumerate(groups):
        end = g[-1].end + hold_s
        if i + 1 < len(groups):
            end = min(end, groups[i + 1][0].start)
        if duration_s is not None:
            end = min(end, duration_s)
        lines.append(Line(g[0].start, round(max(end, g[-1].end), 3), tuple(g)))
    return lines
