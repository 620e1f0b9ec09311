"""SRT and WebVTT files (pysubs2) of subtitle cues, times relative to the clip start."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence

import pysubs2

from streamapp.captions.subtitles import Cue


def _plain(line: str) -> str:
    """One line of spoken text as pysubs2 event text: no SubStation escapes (``\\N``, ``\\h``) by accident."""
    return " ".join(line.replace("\\", "\u2216").split())


def _vtt_escape(text: str) -> str:
    """WebVTT cue text: ``&``, ``<`` and ``>`` are markup there (and ``-->`` would end the cue)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _subs(cues: Sequence[Cue], escape=None) -> pysubs2.SSAFile:
    subs = pysubs2.SSAFile()
    for cue in cues:
        lines = [_plain(x) for x in cue.lines]
        lines = [escape(x) if escape else x for x in lines if x]
        if not lines:
            continue
        # "\N" is SubStation's hard line break: pysubs2 writes it as a new line in SRT and VTT.
        subs.append(pysubs2.SSAEvent(start=int(round(cue.start * 1000)), end=int(round(cue.end * 1000)),
                                     text="\\N".join(lines)))
    return subs


def write_caption_files(cues: Sequence[Cue], srt_path: str, vtt_path: str) -> tuple[str, str]:
    """Write the cues (``subtitle_cues``) as SRT and WebVTT, each atomically (temporary name, then rename).

    Text is written as is (``keep_ssa_tags``: braces and HTML-like text in speech are not styling);
    WebVTT gets ``&``, ``<``, ``>`` escaped. Returns the two paths.
    """
    for path, fmt, subs in ((srt_path, "srt", _subs(cues)), (vtt_path, "vtt", _subs(cues, _vtt_escape))):
        tmp = f"{path}.part"
        try:
            subs.save(tmp, format_=fmt, encoding="utf-8", keep_ssa_tags=True)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
    return srt_path, vtt_path


def remove_caption_files(*paths: str) -> None:
    """Drop captions a previous run left at these names (this run has none), so a re-run leaves no stale file."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
