import numpy as np

from streamapp.kernels.frame_diff import detect_gradual, frame_stats, merge_boundaries, spans_where
from streamapp.kernels.loudness import KWeightedMeter, hop_samples, momentary_lufs


def test_frame_stats_one_pass():
    a = np.zeros((8, 10), np.uint8)
    b = np.full((8, 10), 10, np.uint8)
    c = np.full((8, 10), 30, np.uint8)
    d1, dk, mean, std = frame_stats(b, c, a)
    assert (d1, dk, mean, std) == (20.0, 30.0, 30.0, 0.0)


def _dissolve(n_before=50, length=20, n_after=50, k=15):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (16, 16)).astype(np.float64)
    b = rng.integers(0, 255, (16, 16)).astype(np.float64)
    frames = [a] * n_before + [a + (b - a) * (j + 1) / (length + 1) for j in range(length)] + [b] * n_after
    frames = [np.clip(f + rng.normal(0, 1, f.shape), 0, 255).astype(np.uint8) for f in frames]
    d1, dk = [0.0], [0.0]
    for i in range(1, len(frames)):
        x, y, _, _ = frame_stats(frames[i - 1], frames[i], frames[max(0, i - k)])
        d1.append(x)
        dk.append(y if i >= k else 0.0)
    t = np.arange(len(frames)) / 25.0
    return t, np.array(d1), np.array(dk)


def test_gradual_transition_found_inside_its_span():
    t, d1, dk = _dissolve()
    found = detect_gradual(t, d1, dk, 15)
    assert len(found) == 1
    assert 50 / 25.0 <= found[0] <= 70 / 25.0


def test_static_noise_has_no_gradual_transition():
    rng = np.random.default_rng(1)
    t = np.arange(200) / 25.0
    assert detect_gradual(t, rng.uniform(0, 2, 200), rng.uniform(0, 3, 200), 15) == []


def test_merge_prefers_hard_cuts():
    cuts, kept = merge_boundaries([5.0], [5.2, 9.0], 0.6)
    assert cuts == [5.0, 9.0] and kept == [9.0]


def test_spans_where():
    t = np.arange(10) * 0.1
    mask = np.array([0, 1, 1, 1, 0, 0, 1, 0, 0, 0], bool)
    assert spans_where(t, mask, 0.2, 0.1) == [(0.1, 0.4)]


def test_k_weighted_sine_reads_its_bs1770_loudness():
    # BS.1770: a 997 Hz full-scale sine reads -3.01 LUFS; the filter gain near 1 kHz is ~0 dB.
    rate, hop_s = 16000, 0.05
    x = np.sin(2 * np.pi * 997 * np.arange(rate * 2) / rate).astype(np.float32)
    meter = KWeightedMeter(rate, hop_samples(rate, hop_s))
    power, zcr = meter.feed(x)
    lufs = momentary_lufs(power, hop_s)
    assert abs(float(np.median(lufs)) - (-3.01)) < 0.3
    assert abs(float(np.median(zcr)) - 2 * 997 / rate) < 0.01


def test_k_weighting_is_streamable():
    rate, hop = 16000, 800
    rng = np.random.default_rng(2)
    x = rng.normal(0, 0.1, rate * 3).astype(np.float32)
    whole, _ = KWeightedMeter(rate, hop).feed(x)
    m = KWeightedMeter(rate, hop)
    parts = np.concatenate([m.feed(x[: hop * 7])[0], m.feed(x[hop * 7 :])[0]])
    np.testing.assert_allclose(whole, parts, rtol=1e-9)
