"""Scoring by meaning: unspoken keywords, clips that stand alone and pay off, titles, topic diversity."""

import functools

import numpy as np

from streamapp.analysis.narrative import traits
from streamapp.stages.score import ClipOptions, score
from tests.meaning_talk import SECTIONS, UNSPOKEN_KEYWORDS, talk_signals, talk_words


@functools.cache
def _signals():
    return talk_signals()


def _section_of(clip, spans) -> str:
    mid = (clip.start_s + clip.end_s) / 2
    return next(name for name, (a, b) in spans.items() if a <= mid <= b)


def test_an_unspoken_keyword_picks_its_section():
    _, spans = talk_words()
    for name, keyword in UNSPOKEN_KEYWORDS.items():
        best = score(_signals(), ClipOptions(max_clips=1, min_duration_s=10, max_duration_s=25,
                                             keywords=(keyword,)))[0]
        assert _section_of(best, spans) == name, (keyword, best)
        assert best.subscores["keyword_match"] >= 50


def test_without_embeddings_the_unspoken_keyword_matches_nothing():
    lexical = talk_signals(embed=False)
    best = score(lexical, ClipOptions(max_clips=1, min_duration_s=10, max_duration_s=25, keywords=("sunlight",)))[0]
    assert best.subscores["keyword_match"] == 0


def test_chosen_clips_stand_alone_and_cover_different_topics():
    words, spans = talk_words()
    clips = score(_signals(), ClipOptions(max_clips=4, min_duration_s=10, max_duration_s=28))
    assert len(clips) == 4
    for clip in clips:
        first = next(w for w in words if w["start_s"] >= clip.start_s - 0.3)
        sentence = " ".join(w["text"] for w in words if first["start_s"] <= w["start_s"] < first["start_s"] + 4.0)
        assert not traits(sentence).dangling, sentence
        assert clip.subscores["standalone"] == 100
    assert len({_section_of(c, spans) for c in clips}) == 4  # one per topic, none repeated


def test_title_comes_from_inside_the_clip_and_the_reason_speaks_of_hooks():
    words, _ = talk_words()
    for clip in score(_signals(), ClipOptions(max_clips=3, min_duration_s=10, max_duration_s=28)):
        assert clip.title and len(clip.title) <= 61
        inside = [w["text"] for w in words if clip.start_s - 0.05 <= w["start_s"] and w["end_s"] <= clip.end_s + 0.05]
        said = " ".join(inside).lower()
        assert clip.title.rstrip("\u2026").rstrip(",").lower() in said, (clip.title, said)
        assert clip.to_dict()["title"] == clip.title


def test_a_clip_inside_one_long_sentence_still_gets_a_title():
    """No whole sentence inside the window (one long sentence cut at both edges): the title is that sentence."""
    from streamapp.stages.extract import Signals
    from streamapp.stages.score import score_windows

    text = "utilisant son navigateur comme d'habitude elle partage les informations sur ses goûts".split()  # noqa: SIM905
    words = [{"start_s": 0.5 * i, "end_s": 0.5 * i + 0.4, "text": t, "prob": 0.9} for i, t in enumerate(text)]
    words[-1]["text"] += "."
    times = np.arange(0.0, 10.0, 0.04)
    signals = Signals(10.0, 25.0, times, np.zeros(times.size, np.float32), [], 0.05,
                      np.full(200, -20.0, np.float32), True, [], words=words)
    (clip,) = score_windows(signals, [(1.0, 5.0)])
    assert clip.title.startswith("Utilisant son navigateur")


def test_hook_recall_in_the_top_three():
    _, spans = talk_words()
    hooks = {name: sentences[0] for name, sentences in SECTIONS.items()}
    top = score(_signals(), ClipOptions(max_clips=3, min_duration_s=10, max_duration_s=28))
    opened = sum(any(abs(c.start_s - spans[n][0]) < 1.0 for n in hooks) for c in top)
    assert opened >= 2, [(c.start_s, c.reason) for c in top]
    assert any("opens with" in c.reason for c in top)
