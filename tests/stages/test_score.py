import json
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamapp.stages.extract import Signals, extract
from streamapp.stages.score import (
    Candidate,
    ClipOptions,
    build_windows,
    clip_boundaries,
    score,
    score_windows,
    select_top,
)
from tests.media_fixtures import sample_video


@pytest.fixture(scope="module")
def truth():
    return sample_video()


@pytest.fixture(scope="module")
def signals(truth):
    return extract(truth["path"])


def _flat_signals(duration=30.0, fps=25.0, audio=True, hop=0.05):
    times = np.arange(int(duration * fps)) / fps
    motion = np.full(times.size, 2.0, np.float32)
    motion[0] = 0
    loud = np.full(int(duration / hop), -20.0, np.float32) if audio else np.zeros(0, np.float32)
    return Signals(duration, fps, times, motion, [], hop, loud, audio, [])


# --- end to end on the synthetic video -------------------------------------------------------


def test_window_with_the_loud_burst_scores_highest(signals, truth):
    clips = score(signals, ClipOptions(max_clips=3, min_duration_s=15, max_duration_s=30))
    assert clips
    best = clips[0]
    a, b = truth["burst"]
    assert best.start_s <= a and best.end_s >= b
    assert best.subscores["audio_energy"] == max(c.subscores["audio_energy"] for c in clips)


def test_every_window_containing_the_burst_beats_those_without(signals, truth):
    windows = build_windows(signals.duration_s, signals.cuts_s, 15, 20)
    cands = score_windows(signals, windows)
    a, b = truth["burst"]
    with_burst = [c.score for c in cands if c.start_s <= a and c.end_s >= b]
    without = [c.score for c in cands if c.end_s <= a or c.start_s >= b]
    assert with_burst and without
    assert max(with_burst) > max(without)


def test_candidates_are_well_formed(signals):
    options = ClipOptions(max_clips=5, min_duration_s=10, max_duration_s=25)
    clips = score(signals, options)
    assert 1 <= len(clips) <= 5
    for c in clips:
        assert 0 <= c.start_s < c.end_s <= signals.duration_s + 1e-6
        assert options.min_duration_s - 1e-6 <= c.end_s - c.start_s <= options.max_duration_s + 1e-6
        assert 0 <= c.score <= 100 and round(c.score, 1) == c.score
        assert {"audio_energy", "motion", "hook", "boundaries"} <= set(c.subscores)
        assert all(0 <= v <= 100 for v in c.subscores.values())
        assert c.reason and "\n" not in c.reason and "shot change" in c.reason
        json.dumps(c.to_dict())
    assert [c.score for c in clips] == sorted((c.score for c in clips), reverse=True)


def test_edges_prefer_cuts_and_silences(signals):
    clips = score(signals, ClipOptions(max_clips=2, min_duration_s=15, max_duration_s=30))
    edges = set(signals.cuts_s) | {x for s in signals.silences for x in s} | {0.0, signals.duration_s}
    for c in clips:
        assert c.subscores["boundaries"] >= 50
        assert any(abs(c.start_s - e) < 0.01 for e in edges) or any(abs(c.end_s - e) < 0.01 for e in edges)


def test_no_audio_is_scored_on_the_rest():
    sig = _flat_signals(audio=False)
    sig.cuts_s = [10.0]
    clips = score(sig, ClipOptions(max_clips=2, min_duration_s=5, max_duration_s=10))
    assert clips and all(c.subscores["audio_energy"] == 0 for c in clips)
    assert all(c.score > 0 for c in clips)


def test_short_video_gives_one_whole_clip():
    sig = _flat_signals(duration=8.0)
    clips = score(sig, ClipOptions(min_duration_s=15, max_duration_s=60))
    assert [(c.start_s, c.end_s) for c in clips] == [(0.0, 8.0)]


# --- build_windows ----------------------------------------------------------------------------


def test_build_windows_snaps_to_boundaries():
    windows = build_windows(40.0, [5.0, 12.37, 21.0], 15, 20, step_s=1.0)
    assert (5.0, 21.0) in windows
    assert (0.0, 20.0) in windows  # grid end where no boundary is near
    assert (12.37, 27.37) not in windows  # 12.37 + 15 is no edge, but the grid is
    assert (12.37, 28.0) in windows
    assert all(abs(s - 12.0) > 1e-9 for s, _ in windows)  # 12.37 replaces the grid point 12


def test_build_windows_short_video():
    assert build_windows(9.5, [3.0], 15, 60) == [(0.0, 9.5)]
    assert build_windows(0.0, [], 15, 60) == []


durations = st.floats(min_value=0.5, max_value=400.0, allow_nan=False)
boundaries = st.lists(st.floats(min_value=-10.0, max_value=500.0, allow_nan=False), max_size=30)


@settings(max_examples=60, deadline=None)
@given(
    durations,
    boundaries,
    st.floats(min_value=1.0, max_value=30.0),
    st.floats(min_value=0.0, max_value=40.0),
    st.sampled_from([0.5, 1.0, 2.5]),
)
def test_build_windows_properties(duration, bounds, min_d, extra, step):
    max_d = min_d + extra
    windows = build_windows(duration, bounds, min_d, max_d, step)
    assert windows == build_windows(duration, list(reversed(bounds)), min_d, max_d, step)  # deterministic
    assert windows == sorted(set(windows))
    d = round(duration, 3)
    if d < min_d:
        assert windows == [(0.0, d)]
        return
    assert windows, "a video at least min_d long always has a window"
    for s, e in windows:
        assert 0.0 <= s < e <= d
        assert min_d - 1e-3 <= e - s <= max_d + 1e-3  # edges are on a millisecond grid


# --- select_top -------------------------------------------------------------------------------


def _cand(start, length, score):
    return Candidate(start, start + length, score, {"audio_energy": score, "motion": 0, "hook": 0}, "x")


candidates = st.lists(
    st.builds(
        _cand,
        st.integers(0, 200).map(float),
        st.integers(1, 60).map(float),
        st.integers(0, 20).map(lambda s: s * 5.0),  # coarse scores: many ties
    ),
    max_size=40,
)


@settings(max_examples=100, deadline=None)
@given(candidates, st.integers(0, 8), st.randoms(use_true_random=False))
def test_select_top_properties(cands, k, rnd):
    chosen = select_top(cands, k)
    assert len(chosen) <= k
    for i, a in enumerate(chosen):
        for b in chosen[i + 1 :]:
            assert a.end_s <= b.start_s or b.end_s <= a.start_s, "overlap"
    assert [c.score for c in chosen] == sorted((c.score for c in chosen), reverse=True)
    assert all(c in cands for c in chosen)
    shuffled = list(cands)
    rnd.shuffle(shuffled)
    assert select_top(shuffled, k) == chosen  # input order does not matter
    if cands and k:
        assert chosen[0].score == max(c.score for c in cands)


def test_select_top_ties_go_to_the_earlier_start():
    a, b = _cand(10, 20, 50.0), _cand(0, 20, 50.0)
    assert select_top([a, b], 1) == [b]
    assert select_top([a, b], 2) == [b]  # they overlap: only one survives
    c = _cand(30, 5, 50.0)
    assert select_top([c, a, b], 5) == [b, c]


def test_select_top_shuffle_stable():
    cands = [_cand(float(i * 7), 10, float(i % 3)) for i in range(20)]
    base = select_top(cands, 4)
    rng = random.Random(3)
    for _ in range(5):
        rng.shuffle(cands)
        assert select_top(cands, 4) == base


def test_fast_path_matches_build_score_select(signals):
    options = ClipOptions(max_clips=4, min_duration_s=8, max_duration_s=20)
    windows = build_windows(signals.duration_s, clip_boundaries(signals), 8, 20)
    assert score(signals, options, refine=False) == select_top(score_windows(signals, windows), 4)
