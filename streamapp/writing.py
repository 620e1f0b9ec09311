"""Facts about writing systems that both transcripts and burned-in captions need."""

from __future__ import annotations

import re

# Kana, CJK ideographs (with the compatibility block) and hangul: written without spaces between words,
# though Whisper hands their sentences over word by word.
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")
GREEK = re.compile(r"[\u0370-\u03ff\u1f00-\u1fff]")
RTL = re.compile(r"[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")  # Hebrew and Arabic blocks: right to left


def spaced(before: str, after: str) -> bool:
    """Whether a space goes between two adjacent words: not between CJK words."""
    return not (CJK.search(before[-1:]) and CJK.search(after[:1]))
