import numpy as np
import pytest

from streamapp.analysis.audio_events import speech_activity
from streamapp.kernels.smooth import convolve_same


@pytest.mark.parametrize("n", [1, 2, 3, 5, 9, 40])
@pytest.mark.parametrize("k", [1, 2, 3, 9])
def test_one_value_per_input_value_as_numpy_gives_for_long_inputs(n, k):
    rng = np.random.default_rng(n * 10 + k)
    values, kernel = rng.random(n), rng.random(k)
    out = convolve_same(values, kernel)
    assert out.shape == (n,)
    if n >= k:
        assert np.allclose(out, np.convolve(values, kernel, mode="same"))
    # each output is the kernel centred on its input value, cut at the ends
    centre = (k - 1) // 2
    for i in range(n):
        want = sum(values[j] * kernel[i - j + centre] for j in range(n) if 0 <= i - j + centre < k)
        assert out[i] == pytest.approx(want)
    assert convolve_same(np.zeros(0), kernel).shape == (0,)


@pytest.mark.parametrize("hops", [1, 3, 5, 12])
def test_speech_activity_of_a_short_sound_has_one_value_a_hop(hops):
    """Under 0.45 s of sound the smoothing and hold kernels are longer than the sound (9 values came back)."""
    activity = speech_activity(np.full(hops, -20.0), np.full(hops, 0.1), np.full(hops, 0.9), 0.05)
    assert activity.shape == (hops,)
