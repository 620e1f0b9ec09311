import numpy as np

from streamapp.analysis.audio_events import band_ratio, bursts, speech_activity, speech_from_words


def test_burst_found_against_local_median():
    hop = 0.05
    lufs = np.full(int(60 / hop), -30.0)
    lufs[int(20 / hop) : int(22 / hop)] = -12.0
    found = bursts(lufs, hop)
    assert len(found) == 1
    a, b = found[0]
    assert abs(a - 20.0) < 0.06 and abs(b - 22.0) < 0.06


def test_steady_loudness_has_no_burst():
    assert bursts(np.full(2000, -20.0), 0.05) == []


def test_speech_heuristic_rejects_noise_accepts_voiced_band():
    rate, hop = 16000, 800
    rng = np.random.default_rng(0)
    noise = rng.uniform(-0.5, 0.5, (100, hop)).astype(np.float32)
    t = np.arange(hop) / rate
    voiced = np.stack([0.3 * np.sin(2 * np.pi * 180 * t) + 0.1 * np.sin(2 * np.pi * 700 * t)] * 100).astype(np.float32)
    quiet = np.zeros((100, hop), np.float32)
    hops = np.concatenate([quiet, voiced, noise])
    rms = 10 * np.log10(np.maximum((hops**2).mean(axis=1), 1e-10))
    zcr = (np.diff(np.sign(hops), axis=1) != 0).mean(axis=1)
    act = speech_activity(rms, zcr, band_ratio(hops, rate), 0.05)
    assert act[:90].sum() == 0 and act[110:190].all() and act[215:].sum() == 0


def test_speech_from_words_bridges_short_gaps():
    words = [{"start_s": 1.0, "end_s": 1.4}, {"start_s": 1.6, "end_s": 2.0}, {"start_s": 4.0, "end_s": 4.5}]
    act = speech_from_words(words, 120, 0.05)
    assert act[20:40].all() and not act[41:79].any() and act[80:90].all()
