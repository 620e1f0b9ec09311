"""Subtitle cues for the SRT/VTT files beside a clip: readable blocks, not the burned-in karaoke lines.

A cue is one or two lines of at most ``max_chars`` (CJK characters count double: they are full width),
shown from its first word for ``min_s`` to ``max_s``, never past the clip's edges nor into the next cue.
Cue boundaries are chosen together (a shortest path over the word list) so that cues end at sentence
ends first, then at clause ends and pauses, and are not shorter than ``min_s`` where speech allows it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from streamapp.captions.timing import Word
from streamapp.writing import join_words, no_space, text_width

_SENTENCE_END = re.compile(r"[.!?…。！？]['\"”’)」』]*$")
_CLAUSE_END = re.compile(r"[,;:—–，、；：]['\"”’)」』]*$")
# English words a cue or a line should not end on (a subtitle reads badly split after "the").
_WEAK_END = frozenset({
    "a", "an", "the", "and", "or", "but", "nor", "of", "to", "in", "on", "at", "for", "with", "from", "by", "as",
    "if", "so", "than", "i", "my", "your", "our", "their", "its",
})
_WORDY = re.compile(r"\w")
PAUSE_S = 0.5  # a pause this long is a good place to end a cue
HOLD_S = 0.5  # a cue stays this long after its last word, if the next cue and the clip allow
SPLIT_GAP_S = 2.0  # no cue spans a silence this long: it would hang on screen over nothing
_SHORT = 1000.0  # cost of a cue shorter than min_s: only when every other way is impossible
_BREAK_COST = {"sentence": 0.0, "long pause": 0.0, "clause": 1.0, "pause": 1.0, "none": 5.0}


@dataclass(frozen=True)
class Cue:
    start: float  # clip time, s
    end: float
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        """The cue's lines joined by newlines."""
        return "\n".join(self.lines)


def _split_wide(w: Word, max_chars: int) -> list[Word]:
    """A word wider than a line, written without spaces (a CJK run Whisper gave as one word), as pieces
    of at most ``max_chars`` cut between characters, sharing the word's time by width. Others: as is."""
    if text_width(w.text) <= max_chars or not any(no_space(c) for c in w.text):
        return [w]
    pieces: list[str] = []
    cur = ""
    for c in w.text:
        # Cut only next to a no-space character: a Latin word inside the run stays whole.
        if cur and text_width(cur + c) > max_chars and (no_space(c) or no_space(cur[-1])):
            keep = 1 if not _WORDY.search(c) and len(cur) > 1 else 0  # no piece starts with "。" or "、"
            pieces.append(cur[: len(cur) - keep])
            cur = cur[len(cur) - keep :]
        cur += c
    if cur:
        pieces.append(cur)
    total = sum(text_width(p) for p in pieces)
    out: list[Word] = []
    t, done = w.start, 0
    for p in pieces:
        done += text_width(p)
        b = w.start + (w.end - w.start) * done / total
        out.append(Word(round(t, 3), round(b, 3), p))
        t = b
    return out


def _end_kind(w: Word, nxt: Word | None) -> str:
    if _SENTENCE_END.search(w.text):
        return "sentence"
    if _CLAUSE_END.search(w.text):
        return "clause"
    if nxt is not None and nxt.start - w.end >= PAUSE_S:
        return "long pause" if nxt.start - w.end >= 2 * PAUSE_S else "pause"
    return "none"


def _weak(text: str) -> bool:
    return text.lower().strip("\"'“‘(") in _WEAK_END


def wrap(texts: Sequence[str], max_chars: int = 42, max_lines: int = 2) -> tuple[str, ...] | None:
    """The words as at most ``max_lines`` lines of at most ``max_chars`` (one line when they fit), or None.

    Two lines break where the lines are most even, preferring a break after punctuation and not after a
    weak word ("the", "of"...). A single word longer than a line gets its own line (nothing else can).
    """
    if not texts:
        return ()
    one = join_words(texts)
    if text_width(one) <= max_chars or len(texts) == 1:
        return (one,)
    if max_lines < 2:
        return None
    best: tuple[float, tuple[str, ...]] | None = None
    for k in range(1, len(texts)):
        top, rest = join_words(texts[:k]), texts[k:]
        if text_width(top) > max_chars and k > 1:
            break
        tail = (join_words(rest),) if text_width(join_words(rest)) <= max_chars or len(rest) == 1 else None
        if tail is None and max_lines > 2:
            tail = wrap(rest, max_chars, max_lines - 1)
        if tail is None:
            continue
        widths = [text_width(top), *(text_width(x) for x in tail)]
        cost = (max(widths) - min(widths)) / max_chars
        if _SENTENCE_END.search(texts[k - 1]) or _CLAUSE_END.search(texts[k - 1]):
            cost -= 0.5
        elif _weak(texts[k - 1]):
            cost += 0.5
        if best is None or cost < best[0]:
            best = (cost, (top, *tail))
    return best[1] if best else None


def subtitle_cues(
    words: Sequence[Word],
    duration_s: float,
    max_chars: int = 42,
    max_lines: int = 2,
    min_s: float = 1.0,
    max_s: float = 7.0,
) -> list[Cue]:
    """Subtitle cues for a clip's words (clip time, in order, as ``clip_words`` gives them).

    Every word appears once, in order. Each cue has 1..``max_lines`` lines of at most ``max_chars``
    (a single word wider than a line excepted), lies inside [0, ``duration_s``], lasts at most ``max_s``
    and, unless the clip's speech leaves no room, at least ``min_s``; cues are in order and never overlap.
    """
    duration = max(0.0, float(duration_s))
    ws: list[Word] = []
    for w in words:
        text = " ".join(w.text.split())
        if not text:
            continue
        a = min(max(w.start, ws[-1].end if ws else 0.0, 0.0), duration)  # in order, never overlapping
        b = min(max(w.end, a), duration)
        if ws and not _WORDY.search(text):  # a lone "," or "。" stays with the word before it
            ws[-1] = Word(ws[-1].start, max(ws[-1].end, b), ws[-1].text + text)
        else:
            ws.append(Word(a, b, text))
    ws = [piece for w in ws for piece in _split_wide(w, max_chars)]
    n = len(ws)
    if n == 0 or duration <= 0:
        return []
    # best[j]: (cost, start index of the last cue) for the words before j, split into cues.
    best: list[tuple[float, int]] = [(0.0, 0)] + [(float("inf"), 0)] * n
    for i in range(n):
        if best[i][0] == float("inf"):
            continue
        inner = 0.0  # cost of the pauses inside the cue: its text would show long before it is said
        for j in range(i + 1, n + 1):
            last = ws[j - 1]
            if j > i + 1:
                gap = ws[j - 1].start - ws[j - 2].end
                if last.end - ws[i].start > max_s or gap > SPLIT_GAP_S:
                    break
                if wrap([w.text for w in ws[i:j]], max_chars, max_lines) is None:
                    break
                inner += 2.0 if gap >= 2 * PAUSE_S else 0.5 if gap >= PAUSE_S else 0.0
            nxt = ws[j] if j < n else None
            cost = 1.0 + inner  # fewer, fuller cues
            if nxt is not None:
                kind = _end_kind(last, nxt)
                cost += _BREAK_COST[kind]
                if _weak(last.text):
                    cost += 1.0
                if kind not in ("sentence", "long pause") and any(_SENTENCE_END.search(w.text) for w in ws[i : j - 1]):
                    cost += 2.0  # "...end. The start" leaves a new sentence's first words dangling
            room = (nxt.start if nxt is not None else duration) - ws[i].start
            if room < min_s:
                cost += _SHORT * (1.0 + min_s - room)
            total = best[i][0] + cost
            if total < best[j][0]:
                best[j] = (total, i)
    bounds: list[tuple[int, int]] = []
    j = n
    while j > 0:
        i = best[j][1]
        bounds.append((i, j))
        j = i
    bounds.reverse()
    return _timed(ws, bounds, duration, max_chars, max_lines, min_s, max_s)


def _floor_ms(t: float) -> float:
    return math.floor(round(t * 1000, 6)) / 1000


def _timed(
    ws: list[Word], bounds: list[tuple[int, int]], duration: float, max_chars: int, max_lines: int,
    min_s: float, max_s: float,
) -> list[Cue]:
    """Cue times: from the first word to ``HOLD_S`` past the last (at least ``min_s``, at most ``max_s``),
    cut at the next cue and the clip end; a cue still short starts earlier, into the free time before it."""
    starts = [ws[i].start for i, _ in bounds]
    ends: list[float] = []
    for k, (_i, j) in enumerate(bounds):
        limit = min(starts[k + 1] if k + 1 < len(bounds) else duration, starts[k] + max_s)
        ends.append(min(max(ws[j - 1].end + HOLD_S, starts[k] + min_s), limit))
    for k in range(len(bounds)):
        if ends[k] - starts[k] < min_s:
            floor = ends[k - 1] if k else 0.0
            starts[k] = max(floor, min(starts[k], ends[k] - min_s))
    cues = []
    for k, (i, j) in enumerate(bounds):
        lines = wrap([w.text for w in ws[i:j]], max_chars, max_lines) or (join_words([w.text for w in ws[i:j]]),)
        a = _floor_ms(starts[k])
        b = min(_floor_ms(ends[k]), _floor_ms(a + max_s))  # whole ms (floor keeps order and the clip end)
        cues.append(Cue(a, max(a, b), lines))
    return cues
