"""What a clip's sentences do for a viewer: open a loop (hook), stand alone, pay off; and a title.

Pure functions over sentences (``transcript.split_sentences``): text patterns for English, the
language people steer with most; other languages get the neutral value (50) rather than a guess.
Meaning-based parts (the key sentence for a title) use sentence vectors when given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from streamapp.writing import text_width


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


# A first word that points back at something the viewer has not seen: the clip starts mid-thought.
_DANGLING_FIRST = _wordset(
    "and but so or because then also plus anyway which whereas though although he she they him her them his "
    "their theirs those these it's"
)
_DANGLING_OPENINGS = ("that one", "this one", "as i said", "like i said", "as we saw", "as i mentioned",
                      "the other one", "same thing", "that's why", "that is why", "which is why")
_HOOK_OPENINGS = ("here is", "here's", "the mistake", "the secret", "the truth", "the problem", "the biggest",
                  "nobody", "most people", "what if", "imagine", "did you know", "stop", "never", "don't",
                  "the reason", "the one thing", "the best", "the worst", "this is why", "let me tell you",
                  "you need", "you should", "you have to", "you can", "you've been", "you are", "you're")
_HOOK_WORDS = _wordset(
    "secret mistake mistakes truth wrong myth never always actually surprising shocking nobody everyone "
    "biggest worst best stop why how"
)
_NUMBER_WORDS = _wordset("two three four five six seven eight nine ten dozen hundred thousand million")
_PAYOFF_OPENINGS = ("so the lesson", "the lesson", "so the answer", "the answer is", "that's why", "that is why",
                    "the point is", "in short", "bottom line", "the key is", "remember", "so next time",
                    "so if you", "turns out", "it turns out", "that is how", "that's how", "which means",
                    "so that's", "and that's", "that's the", "so remember", "in the end", "so the trick",
                    "the trick is", "so always", "so never")
_IMPERATIVES = _wordset(
    "try use start stop do don't make keep remember avoid put take go write read ask check pick choose "
    "save plan build practice learn"
)
_WORD = re.compile(r"[\w']+", re.UNICODE)
_LATIN = re.compile(r"[A-Za-z]")


@dataclass(frozen=True)
class SentenceTraits:
    """What one sentence does; each value 0-100 (50 = unknown, e.g. a language without patterns)."""

    hook: float
    dangling: bool
    payoff: float
    hook_kind: str = ""  # "question", "number", "claim", "direct address": for the reason line
    payoff_kind: str = ""  # "conclusion", "tip", "statement"


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def traits(text: str) -> SentenceTraits:
    """Hook, dangling opening and payoff of one sentence."""
    if not _LATIN.search(text):
        return SentenceTraits(50.0, False, 50.0)
    low = " ".join(_words(text))
    words = low.split()
    first = words[0] if words else ""
    dangling = first in _DANGLING_FIRST or low.startswith(_DANGLING_OPENINGS)
    hook, kind = 0.0, ""
    if text.rstrip().endswith("?"):
        hook, kind = 100.0, "question"
    elif any(w.isdigit() or w in _NUMBER_WORDS for w in words[:8]) and any(
            w in ("ways", "things", "steps", "tips", "reasons", "rules", "mistakes", "tricks", "times")
            for w in words):
        hook, kind = 90.0, "number"
    elif low.startswith(_HOOK_OPENINGS):
        hook, kind = 80.0, "direct address" if first in ("you", "you're", "you've") else "claim"
    elif any(w in _HOOK_WORDS for w in words):
        hook, kind = 60.0, "claim"
    payoff, pkind = 40.0, "statement"
    stripped = text.rstrip()
    if stripped.endswith("?"):
        payoff, pkind = 10.0, ""  # a question left open: the clip ends on the setup
    elif low.startswith(_PAYOFF_OPENINGS) or any(p in low for p in (" the lesson", "that's why", "the point is",
                                                                     "the trick is", "the key is")):
        payoff, pkind = 100.0, "conclusion"
    elif first in _IMPERATIVES:
        payoff, pkind = 90.0, "tip"
    elif stripped.endswith(("!", ".")):
        payoff, pkind = 55.0, "statement"
    return SentenceTraits(hook, dangling, payoff, kind, pkind)


def sentence_traits(sentences: list[dict]) -> list[SentenceTraits]:
    return [traits(str(s["text"])) for s in sentences]


# A sentence narrower than this (in columns; a CJK character takes two) says too little to title a clip: a word
# Whisper split off at a pause ("Future."), "Okay.", "Yes."; it is the key sentence only when no other is wider.
MIN_TITLE_COLUMNS = 12


def key_sentence(sentences: list[dict], first: int, last: int, vectors: np.ndarray | None,
                 found: list[SentenceTraits]) -> int:
    """Index of the sentence that says what the clip is about: a strong hook in its first two sentences,
    else the sentence closest in meaning to the whole clip (the longest one without vectors), among those wide
    enough to title it where there are any."""
    for i in range(first, min(last, first + 1) + 1):
        if found[i].hook >= 80.0 and len(_words(sentences[i]["text"])) >= 4:
            return i
    span = range(first, last + 1)
    wide = [i for i in span if text_width(" ".join(str(sentences[i]["text"]).split())) >= MIN_TITLE_COLUMNS]
    candidates = wide or list(span)
    if vectors is not None and vectors.shape[0] == len(sentences):
        block = np.asarray(vectors[first : last + 1], np.float64)
        centre = block.mean(axis=0)
        closeness = block @ centre
        return max(candidates, key=lambda i: closeness[i - first])
    return max(candidates, key=lambda i: len(str(sentences[i]["text"])))


def title(text: str, limit: int = 60) -> str:
    """A short title from a sentence: trimmed at a word boundary to ``limit`` columns (a full-width CJK
    character takes two), no end punctuation."""
    t = " ".join(str(text).split()).strip(" .,;:!-\u2026\u3002\uff0c\uff01\uff1f")
    if text_width(t) > limit:
        head = t
        while text_width(head) > limit:
            head = head[:-1]
        cut = head.rsplit(" ", 1)[0] if " " in head else head
        t = cut.rstrip(" ,;:-\uff0c\u3001") + "\u2026"
    return t[:1].upper() + t[1:]
