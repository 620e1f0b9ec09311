import pytest

from streamapp.captions import PRESETS, clip_words, group_lines, resolve_style
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


def test_zero_length_words_are_kept_with_a_duration_from_the_gap():
    words = [
        {"start_s": 10.0, "end_s": 10.4, "text": "one"},
        {"start_s": 10.5, "end_s": 10.5, "text": "two"},  # zero length, 0.3 s free after it
        {"start_s": 10.8, "end_s": 11.0, "text": "three"},
        {"start_s": 11.2, "end_s": 11.2, "text": "four"},  # zero length, only 0.05 s after it: takes time before too
        {"start_s": 11.25, "end_s": 11.6, "text": "five"},
        {"start_s": 11.6, "end_s": 11.6, "text": "six"},  # zero length, no room at all
        {"start_s": 11.6, "end_s": 12.0, "text": "seven"},
        {"start_s": 12.3, "end_s": 12.1, "text": "bad"},  # end before start: dropped
        {"start_s": 19.99, "end_s": 19.99, "text": "last"},  # zero length at the clip end
    ]
    out = clip_words(words, 10.0, 20.0)
    assert [w.text for w in out] == ["one", "two", "three", "four", "five", "six", "seven", "last"]
    by = {w.text: w for w in out}
    assert (by["two"].start, by["two"].end) == (0.5, 0.7)
    assert (by["four"].start, by["four"].end) == (1.05, 1.25)
    assert by["six"].start == by["six"].end == 1.6
    assert by["last"].end == 10.0 and by["last"].end - by["last"].start == pytest.approx(0.2)
    for a, b in zip(out, out[1:], strict=False):
        assert a.end <= b.start  # never overlapping a neighbour
    assert all(0.0 <= w.start <= w.end <= 10.0 for w in out)


def test_words_swallowed_by_an_overlap_are_kept():
    words = [{"start_s": 1.0, "end_s": 2.0, "text": "long"}, {"start_s": 1.2, "end_s": 1.5, "text": "inside"},
             {"start_s": 3.0, "end_s": 3.4, "text": "after"}]
    out = clip_words(words, 0.0, 5.0)
    assert [(w.text, w.start, w.end) for w in out] == [("long", 1.0, 2.0), ("inside", 2.0, 2.2), ("after", 3.0, 3.4)]


def test_presets_resolve():
    assert {"bold", "clean", "karaoke"} <= set(PRESETS)
    assert resolve_style(None) is PRESETS["bold"]
    assert resolve_style("clean").uppercase is False
    with pytest.raises(InputError) as err:
        resolve_style("comic-sans")
    assert err.value.code == "caption_style_invalid"
