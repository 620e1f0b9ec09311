"""Captions: transcript words to timed lines, SRT/WebVTT files and karaoke-style burn-in."""

from streamapp.captions.draw import CaptionBurner, glyph_backend
from streamapp.captions.files import write_caption_files
from streamapp.captions.styles import DEFAULT_STYLE, PRESETS, CaptionStyle, resolve_style
from streamapp.captions.timing import Line, Word, clip_words, group_lines

__all__ = [
    "DEFAULT_STYLE", "PRESETS", "CaptionBurner", "CaptionStyle", "Line", "Word", "clip_words",
    "glyph_backend", "group_lines", "resolve_style", "write_caption_files",
]
