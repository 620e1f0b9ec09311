"""Facts about writing systems that both transcripts and burned-in captions need."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

# Kana, CJK ideographs (with the compatibility block) and hangul: written without spaces between words,
# though Whisper hands their sentences over word by word.
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")
GREEK = re.compile(r"[\u0370-\u03ff\u1f00-\u1fff]")
RTL = re.compile(r"[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")  # Hebrew and Arabic blocks: right to left


APOSTROPHES = "'\u2019"


def no_space(ch: str) -> bool:
    """Whether ``ch`` belongs to a script written without spaces between words (CJK, kana, Thai...)."""
    if not ch:
        return False
    o = ord(ch)
    return (
        0x2E80 <= o <= 0x9FFF  # CJK radicals, punctuation, kana, CJK ideographs
        or 0xF900 <= o <= 0xFAFF  # CJK compatibility ideographs
        or 0xFF00 <= o <= 0xFFEF  # full-width forms
        or 0x20000 <= o <= 0x3FFFF  # CJK extensions
        or 0x0E00 <= o <= 0x0EFF  # Thai, Lao
        or 0x1000 <= o <= 0x109F  # Myanmar
        or 0x1780 <= o <= 0x17FF  # Khmer
    )


def spaced(before: str, after: str) -> bool:
    """Whether a space goes between two adjacent words: not between two words of a script written without
    spaces (a Latin word among Chinese keeps its spaces, as Chinese typesetting does), nor at an elision's
    apostrophe (French "d'habitude", English "it's")."""
    if not before or not after or before[-1] in APOSTROPHES or after[0] in APOSTROPHES:
        return False
    return not (no_space(before[-1]) and no_space(after[0]))


def join_words(texts: Sequence[str]) -> str:
    """Words as text, spaced as ``spaced`` says."""
    out = ""
    for t in texts:
        if out and spaced(out, t):
            out += " "
        out += t
    return out


def text_width(text: str) -> int:
    """Characters, full-width ones (CJK) counting two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
