import pysubs2
import pytest

from streamapp.captions import PRESETS, clip_words, group_lines, resolve_style, write_caption_files
from streamapp.errors import InputError


def words_from(text: str, start: float, step: float = 0.4, dur: float = 0.3) -> list[dict]:
    return [
        {"start_s": start + i * step, "end_s": start + i * step + dur, "text": w} for i, w in enumerate(text.split())
    ]


def test_clip_words_are_clip_relative_and_clamped():
    words = [
        {"start_s": 9.5, "end_s": 10.2, "text": "before"},  # middle before the clip: dropped
        {"start_s": 9.9, "end_s": 10.5, "text": "edge"},  # middle inside: kept, cut at 0
        {"start_s": 11.0, "end_s": 11.5, "text": "mid"},
        {"start_s": 19.8, "end_s": 20.05, "text": "tail"},  # middle inside: cut at the clip end
        {"start_s": 20.1, "end_s": 20.5, "text": "after"},
        {"start_s": 12.0, "end_s": 12.5, "text": "  "},
    ]
    out = clip_words(words, 10.0, 20.0)
    assert [(w.text, w.start, w.end) for w in out] == [("edge", 0.0, 0.5), ("mid", 1.0, 1.5), ("tail", 9.8, 10.0)]


def test_lines_break_at_word_count_pauses_and_sentences():
    words = clip_words(words_from("one two three four five six", 0.0), 0.0, 30.0)
    words += clip_words(words_from("Later. Then more", 5.0), 0.0, 30.0)
    lines = group_lines(words, max_words=4)
    assert [ln.text for ln in lines] == ["one two three four", "five six", "Later.", "Then more"]
    for a, b in zip(lines, lines[1:], strict=False):
        assert a.end <= b.start  # lines never overlap
    assert lines[0].start == words[0].start


def test_lines_respect_width():
    words = clip_words(words_from("aaaa bbbb cccc dddd", 0.0), 0.0, 10.0)
    lines = group_lines(words, max_words=5, measure=lambda s: 10.0 * len(s), max_width=100.0)
    assert [ln.text for ln in lines] == ["aaaa bbbb", "cccc dddd"]


def test_line_hold_never_passes_the_clip_end():
    words = clip_words(words_from("last words", 9.0), 0.0, 9.6)
    lines = group_lines(words, duration_s=9.6)
    assert lines[-1].end <= 9.6


def test_caption_files_round_trip(tmp_path):
    words = clip_words(words_from("hello there how are you doing today", 3.0), 2.0, 8.0)
    lines = group_lines(words, max_words=3, duration_s=6.0)
    srt, vtt = write_caption_files(lines, str(tmp_path / "c.srt"), str(tmp_path / "c.vtt"))
    for path in (srt, vtt):
        subs = pysubs2.load(path)
        assert " ".join(e.plaintext.replace("\n", " ") for e in subs).split() == [w.text for w in words]
        assert [e.start for e in subs] == [round(ln.start * 1000) for ln in lines]
        assert all(0 <= e.start < e.end <= 6000 for e in subs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.srt", "c.vtt"]


def test_presets_resolve():
    assert {"bold", "clean", "karaoke"} <= set(PRESETS)
    assert resolve_style(None) is PRESETS["bold"]
    assert resolve_style("clean").uppercase is False
    with pytest.raises(InputError) as err:
        resolve_style("comic-sans")
    assert err.value.code == "caption_style_invalid"
