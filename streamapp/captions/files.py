"""SRT and WebVTT files (pysubs2), one cue per caption line, times relative to the clip start."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence

import pysubs2

from streamapp.captions.timing import Line


def _subs(lines: Sequence[Line]) -> pysubs2.SSAFile:
    subs = pysubs2.SSAFile()
    for line in lines:
        subs.append(pysubs2.SSAEvent(start=int(round(line.start * 1000)), end=int(round(line.end * 1000)),
                                     text=line.text))
    return subs


def write_caption_files(lines: Sequence[Line], srt_path: str, vtt_path: str) -> tuple[str, str]:
    """Write both files atomically (temporary name, then rename); returns their paths."""
    subs = _subs(lines)
    for path, fmt in ((srt_path, "srt"), (vtt_path, "vtt")):
        tmp = f"{path}.part"
        try:
            subs.save(tmp, format_=fmt, encoding="utf-8")
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
