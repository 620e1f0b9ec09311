import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from streamapp.kernels.frame_diff import detect_cuts, mean_abs_diff, motion_energy


def test_mean_abs_diff_identical_is_zero():
    a = np.full((8, 10), 77, np.uint8)
    assert mean_abs_diff(a, a) == 0.0


def test_mean_abs_diff_known_value_and_no_uint8_wraparound():
    a = np.zeros((4, 4), np.uint8)
    b = np.full((4, 4), 255, np.uint8)
    assert mean_abs_diff(a, b) == 255.0
    assert mean_abs_diff(b, a) == 255.0
    assert motion_energy(a, b) == 255.0


@settings(max_examples=50, deadline=None)
@given(
    arrays(np.uint8, (6, 9), elements=st.integers(0, 255)),
    arrays(np.uint8, (6, 9), elements=st.integers(0, 255)),
)
def test_mean_abs_diff_matches_numpy(a, b):
    expected = np.abs(a.astype(np.int32) - b.astype(np.int32)).mean()
    assert mean_abs_diff(a, b) == pytest.approx(expected)


def _series(n=250, fps=25.0, base=2.0, seed=0):
    rng = np.random.default_rng(seed)
    times = np.arange(n) / fps
    diffs = (base + rng.uniform(-0.5, 0.5, n)).astype(np.float32)
    diffs[0] = 0.0
    return times, diffs


def test_detects_spikes_at_their_frame_times():
    times, diffs = _series()
    for i in (50, 120, 200):
        diffs[i] = 60.0
    assert detect_cuts(times, diffs) == pytest.approx([times[50], times[120], times[200]])


def test_ignores_spike_below_absolute_minimum():
    times, diffs = _series(base=1.0)
    diffs[100] = 7.0  # 7x its neighbours but still a small change in absolute terms
    assert detect_cuts(times, diffs) == []


def test_busy_footage_needs_a_relative_jump():
    times, diffs = _series(base=15.0)  # fast motion: every frame differs a lot
    diffs[80] = 30.0  # only 2x the neighbourhood: motion, not a cut
    diffs[160] = 90.0  # 6x: a cut
    assert detect_cuts(times, diffs) == pytest.approx([times[160]])


def test_boundaries_closer_than_min_shot_collapse_to_the_stronger():
    times, diffs = _series()
    diffs[100] = 40.0
    diffs[105] = 80.0  # 0.2 s later
    assert detect_cuts(times, diffs, min_shot_s=0.5) == pytest.approx([times[105]])
    assert len(detect_cuts(times, diffs, min_shot_s=0.1)) == 2


def test_empty_and_single_frame_inputs():
    assert detect_cuts(np.zeros(0), np.zeros(0, np.float32)) == []
    assert detect_cuts(np.zeros(1), np.zeros(1, np.float32)) == []


def test_mismatched_lengths_rejected():
    with pytest.raises(ValueError):
        detect_cuts(np.zeros(3), np.zeros(2, np.float32))
