"""Subtitle cues for the SRT/VTT files: readable blocks, every word once, inside the clip, never overlapping."""

from hypothesis import given, settings
from hypothesis import strategies as st

from streamapp.captions.subtitles import Cue, join_words, subtitle_cues, text_width, wrap
from streamapp.captions.timing import Word, clip_words


def timed(text: str, start: float = 0.0, step: float = 0.3, dur: float = 0.25) -> list[Word]:
    return [Word(round(start + i * step, 3), round(start + i * step + dur, 3), t) for i, t in enumerate(text.split())]


def check_cues(cues: list[Cue], words: list[Word], duration: float, max_chars: int = 42) -> None:
    """The rules every cue list keeps, whatever the words."""
    assert " ".join(" ".join(c.lines) for c in cues).split() == [w.text for w in words]  # every word once, in order
    prev_end = 0.0
    for c in cues:
        assert 1 <= len(c.lines) <= 2, c
        assert all(ln and ln == ln.strip() for ln in c.lines), c
        for ln in c.lines:
            assert text_width(ln) <= max_chars or " " not in ln, c  # a single over-wide word is the only excuse
        assert 0.0 <= prev_end <= c.start <= c.end <= duration, (prev_end, c)
        assert c.end - c.start <= 7.0 + 1e-6, c
        prev_end = c.end


def test_cues_end_at_sentences_and_hold_between_one_and_seven_seconds():
    words = timed("Hello there. This is a short test of the subtitle cues, with a clause. And a final sentence here.")
    cues = subtitle_cues(words, 10.0)
    check_cues(cues, words, 10.0)
    texts = [" ".join(c.lines) for c in cues]
    assert all(t.endswith((".", ",")) for t in texts), texts  # breaks at sentence or clause ends only
    assert texts[-1].endswith("And a final sentence here."), texts
    assert all(c.end - c.start >= 1.0 for c in cues), cues
    # Each cue shows from its first word (or earlier, to reach min_s) to at most the next cue's start.
    for c, d in zip(cues, cues[1:], strict=False):
        assert c.end <= d.start


def test_long_speech_is_split_into_two_line_cues_of_at_most_42_characters():
    text = ("so the thing about building a video clipper is that every part of it looks simple until you "
            "try to make it work on real footage from real streams and then nothing is simple anymore")
    words = timed(text, step=0.25)
    cues = subtitle_cues(words, 60.0)
    check_cues(cues, words, 60.0)
    assert any(len(c.lines) == 2 for c in cues)
    assert all(text_width(ln) <= 42 for c in cues for ln in c.lines)
    assert all(1.0 <= c.end - c.start <= 7.0 for c in cues)


def test_pause_and_long_silence_split_cues():
    words = timed("first part here", 0.0) + timed("second part after a long silence", 6.0)
    cues = subtitle_cues(words, 12.0)
    check_cues(cues, words, 12.0)
    assert [" ".join(c.lines) for c in cues] == ["first part here", "second part after a long silence"]
    assert cues[0].end <= 6.0 and cues[1].start == 6.0


def test_short_speech_in_a_short_clip_gives_a_short_cue():
    words = [Word(0.1, 0.4, "Yes!")]
    cues = subtitle_cues(words, 0.6)
    assert cues == [Cue(0.0, 0.6, ("Yes!",))]  # as long as the clip allows, never past it
    assert subtitle_cues([], 5.0) == []
    assert subtitle_cues(words, 0.0) == []


def test_cue_times_stay_inside_the_clip_with_words_at_its_edges():
    words = [Word(0.0, 0.0, "a"), Word(0.0, 0.3, "bit"), Word(4.7, 5.0, "end"), Word(5.0, 5.0, "now")]
    cues = subtitle_cues(words, 5.0)
    check_cues(cues, words, 5.0)


def test_two_lines_break_evenly_and_not_after_weak_words():
    text = "we went down to the river and then we walked all the way back home"
    lines = wrap(text.split(" "))
    assert lines is not None and len(lines) == 2
    assert all(text_width(x) <= 42 for x in lines)
    assert lines[0].split()[-1] not in {"the", "to", "and", "a"}
    assert abs(text_width(lines[0]) - text_width(lines[1])) <= 12
    assert wrap(["short", "line"]) == ("short line",)
    assert wrap(["x" * 30] * 5) is None  # does not fit two lines


def test_punctuation_tokens_join_the_word_before():
    words = [Word(0.0, 0.3, "Hello"), Word(0.3, 0.3, ","), Word(0.4, 0.8, "world"), Word(0.8, 0.8, ".")]
    assert [c.lines for c in subtitle_cues(words, 3.0)] == [("Hello, world.",)]


def test_cjk_without_spaces_is_measured_by_characters():
    text = ("今日はとても良い天気ですね。私たちは公園に行って、"
            "友達と一緒にお弁当を食べました。それから川の近くを散歩しました。")
    per_char = [Word(round(i * 0.15, 3), round(i * 0.15 + 0.12, 3), ch) for i, ch in enumerate(text)]
    for words, duration in ((per_char, 20.0), ([Word(0.0, 9.0, text)], 10.0)):  # per character, or one "word"
        cues = subtitle_cues(words, duration)
        lines = [ln for c in cues for ln in c.lines]
        assert "".join(lines) == text  # no spaces put in, nothing lost
        assert all(text_width(ln) <= 42 for ln in lines), lines  # 21 full-width characters a line
        assert len(cues) >= 2 and all(1 <= len(c.lines) <= 2 for c in cues)
        assert all(0 <= c.start <= c.end <= duration for c in cues)
        assert all(a.end <= b.start for a, b in zip(cues, cues[1:], strict=False))
    assert join_words(["東京", "に", "行く", "OK", "fine"]) == "東京に行く OK fine"
    assert join_words(["comme", "d'", "habitude,", "it", "'s"]) == "comme d'habitude, it's"
    assert text_width("日本") == 4 and text_width("ab") == 2


def test_clip_words_feed_subtitles_with_zero_length_words():
    src = [{"start_s": 10.0 + i * 0.3, "end_s": 10.0 + i * 0.3 + (0.0 if i % 3 == 0 else 0.25), "text": f"w{i}"}
           for i in range(40)]
    words = clip_words(src, 9.0, 22.0)
    assert len(words) == 40
    check_cues(subtitle_cues(words, 13.0), words, 13.0)


_token = st.one_of(
    st.sampled_from(["a", "the", "I", "word", "hello,", "end.", "why?", "extraordinarily", "ok;", "well"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=50),  # some over-wide
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(_token, st.floats(0.0, 3.0), st.floats(0.0, 1.5)), min_size=0, max_size=80),
    st.floats(0.0, 5.0),
)
def test_property_every_word_once_in_order_inside_the_clip(items, tail):
    words, t = [], 0.0
    for text, gap, dur in items:
        t += gap
        words.append(Word(round(t, 3), round(t + dur, 3), text))
        t += dur
    duration = round(t + tail, 3)
    cues = subtitle_cues(words, duration)
    if duration <= 0:
        assert cues == []
        return
    check_cues(cues, words, duration)
    # At least min_s per cue, unless the speech leaves no room: a shorter cue fills all the time between
    # the cue before it (or the clip start) and the cue after it (or the clip end).
    for k, c in enumerate(cues):
        if c.end - c.start < 1.0 - 1e-6:
            prev = cues[k - 1].end if k else 0.0
            nxt = cues[k + 1].start if k + 1 < len(cues) else duration
            assert abs(c.start - prev) <= 1e-3 and abs(c.end - nxt) <= 1e-3, (k, cues)
