import numpy as np
import pytest

from streamapp.kernels.loudness import FLOOR_DB, rms_envelope_db, silences

RATE = 16000


def _tone(seconds, db=-20.0, hz=440.0):
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sqrt(2) * 10 ** (db / 20) * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_full_scale_sine_is_minus_3_dbfs():
    env = rms_envelope_db(_tone(1.0, db=-3.0103), RATE, 0.05)
    assert env.dtype == np.float32
    assert len(env) == 20
    assert env == pytest.approx(np.full(20, -3.0103), abs=0.05)


def test_digital_silence_hits_the_floor():
    env = rms_envelope_db(np.zeros(RATE, np.float32), RATE)
    assert np.all(env == FLOOR_DB)


def test_trailing_partial_hop_gets_a_value():
    env = rms_envelope_db(_tone(1.01), RATE, 0.05)
    assert len(env) == 21
    assert env[-1] == pytest.approx(-20.0, abs=1.0)


def test_empty_input_gives_empty_envelope():
    assert rms_envelope_db(np.zeros(0, np.float32), RATE).size == 0


def test_silences_found_within_50_ms_even_off_the_hop_grid():
    x = _tone(6.0)
    spans = [(1.23, 2.01), (3.377, 4.6)]
    for a, b in spans:
        x[int(a * RATE) : int(b * RATE)] = 0.0
    found = silences(rms_envelope_db(x, RATE, 0.05), 0.05)
    assert len(found) == 2
    for (a, b), (fa, fb) in zip(spans, found, strict=True):
        assert fa == pytest.approx(a, abs=0.05)
        assert fb == pytest.approx(b, abs=0.05)


def test_short_pauses_are_not_silences_and_edges_of_the_file_count():
    x = _tone(5.0)
    x[: int(0.5 * RATE)] = 0.0  # leading silence
    x[int(2.0 * RATE) : int(2.2 * RATE)] = 0.0  # 0.2 s pause: too short
    x[int(4.4 * RATE) :] = 0.0  # trailing silence
    found = silences(rms_envelope_db(x, RATE, 0.05), 0.05, min_len_s=0.4)
    assert len(found) == 2
    assert found[0] == pytest.approx((0.0, 0.5), abs=0.05)
    assert found[1] == pytest.approx((4.4, 5.0), abs=0.05)


def test_threshold_is_respected():
    x = np.concatenate([_tone(1.0, -20), _tone(1.0, -50), _tone(1.0, -20)])
    env = rms_envelope_db(x, RATE)
    assert silences(env, 0.05, threshold_db=-40)[0] == pytest.approx((1.0, 2.0), abs=0.05)
    assert silences(env, 0.05, threshold_db=-60) == []


def test_k_weighting_at_48k_is_bs1770s_table():
    from streamapp.kernels.loudness import k_weighting

    # ITU-R BS.1770-4, tables 1 and 2 (the filters are derived for any rate; at 48 kHz they must be these).
    shelf = [1.53512485958697, -2.69169618940638, 1.19839281085285, -1.69065929318241, 0.73248077421585]
    highpass = [1.0, -2.0, 1.0, -1.99004745483398, 0.99007225036621]
    assert k_weighting(48000) == pytest.approx(np.array([shelf, highpass]), abs=1e-9)


def test_whole_signal_k_weighting_matches_the_streaming_meter():
    from streamapp.kernels.loudness import KWeightedMeter, k_weighted

    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(4 * 1600)).astype(np.float32)
    power, _ = KWeightedMeter(RATE, 1600).feed(x)
    y = k_weighted(x, RATE)
    assert y.shape == x.shape
    assert np.mean(y.reshape(4, 1600) ** 2, axis=1) == pytest.approx(power, rel=1e-9)
    both = k_weighted(np.vstack([x, 0.5 * x]), RATE)  # (channels, n): each channel filtered on its own
    assert both.shape == (2, x.size) and both[1] == pytest.approx(0.5 * y, rel=1e-9, abs=1e-12)
