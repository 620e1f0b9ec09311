"""Loudness mastering: BS.1770 integrated loudness, true peak, the limiter, fades; cross-checked with ffmpeg."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from streamapp.media.audio_master import integrated_lufs, master_audio, true_peak_db
from tests.media_fixtures import write_float_wav

RATE = 48000


def _ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        pytest.fail("ffmpeg is required for the loudness cross-checks and was not found on PATH")
    return path


def _ebur128(path: Path) -> dict[str, float]:
    """ffmpeg's summary: integrated loudness (LUFS), loudness range (LU) and true peak (dBTP)."""
    proc = subprocess.run(
        [_ffmpeg(), "-nostats", "-hide_banner", "-i", str(path), "-af", "ebur128=peak=true", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )
    summary = proc.stderr[proc.stderr.rindex("Summary:"):]
    val = {k: float(re.search(rf"{k}:\s+(-?[\d.]+|-inf)", summary).group(1)) for k in ("I", "LRA", "Peak")}
    return {"integrated": val["I"], "lra": val["LRA"], "true_peak": val["Peak"]}


def _edge_fade(x: np.ndarray, ms: float = 10.0) -> np.ndarray:
    """Smooth starts and ends, so the band-limited overshoot of an abrupt edge does not set the peak."""
    n = int(RATE * ms / 1000)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / n)
    w = np.ones(x.shape[-1])
    w[:n], w[-n:] = ramp, ramp[::-1]
    return (x * w).astype(np.float32)


def _sine(freq: float, peak_db: float, seconds: float, phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (10 ** (peak_db / 20) * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def _speech_like(seconds: float = 20.0, seed: int = 3) -> np.ndarray:
    """Syllable-rate bursts of low-passed noise with pauses: a crest factor like speech's."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    noise = rng.standard_normal(n)
    noise = np.convolve(noise, np.ones(6) / 6, mode="same")  # a gentle low-pass, energy mostly < 4 kHz
    t = np.arange(n) / RATE
    syllables = np.clip(np.sin(2 * np.pi * 4.0 * t), 0, None) ** 2  # 4 Hz syllable envelope
    phrases = (np.sin(2 * np.pi * 0.3 * t) > -0.3).astype(float)  # pauses between phrases
    mono = 0.08 * noise * syllables * phrases
    return _edge_fade(np.vstack([mono, 0.8 * mono]))


def _peaky() -> np.ndarray:
    """A quiet music-like chord with sharp full-scale clicks every 0.5 s (peaks far above the loudness)."""
    t = np.arange(15 * RATE) / RATE
    chord = sum(0.03 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6, 440.0))
    clicks = np.zeros_like(t)
    for at in np.arange(0.25, 15.0, 0.5):
        i = int(at * RATE)
        clicks[i : i + 48] = 0.95 * np.sin(2 * np.pi * 3000.0 * np.arange(48) / RATE)
    x = chord + clicks
    return _edge_fade(np.vstack([x, x]))


def test_sine_reads_bs1770_value() -> None:
    # A 0 dBFS 997 Hz sine on one channel reads -3.01 LKFS (BS.1770's calibration). At -20 dBFS
    # peak it reads -23.01 per channel, and the same on both channels adds their powers (+3.01 dB):
    # expected -20.00 LUFS.
    s = _sine(997.0, -20.0, 10.0)
    assert integrated_lufs(np.vstack([s, s]), RATE) == pytest.approx(-20.0, abs=0.05)
    assert integrated_lufs(np.vstack([_sine(997.0, 0.0, 10.0), np.zeros_like(s)]), RATE) == pytest.approx(
        -3.01, abs=0.05
    )


def test_gates_and_silence() -> None:
    s = _sine(997.0, -20.0, 10.0)
    quiet = np.zeros_like(s)
    # Half silence: the absolute gate drops the silent blocks, so the level is the sine's (not 3 dB less).
    half = np.concatenate([s, quiet])
    assert integrated_lufs(np.vstack([half, half]), RATE) == pytest.approx(-20.0, abs=0.15)
    # A much quieter second half (-40 dBFS) is cut by the relative gate (-10 LU).
    soft = np.concatenate([s, 0.01 * s])
    assert integrated_lufs(np.vstack([soft, soft]), RATE) == pytest.approx(-20.0, abs=0.15)
    assert integrated_lufs(np.zeros((2, RATE)), RATE) == float("-inf")


def test_integrated_matches_ffmpeg(tmp_path: Path) -> None:
    for name, x in (("sine", np.vstack([_sine(997.0, -20.0, 10.0)] * 2)), ("speech", _speech_like()),
                    ("peaky", _peaky())):
        path = tmp_path / f"{name}.wav"
        write_float_wav(path, x)
        ours = integrated_lufs(x, RATE)
        theirs = _ebur128(path)["integrated"]
        assert ours == pytest.approx(theirs, abs=0.3), name


def test_true_peak_sees_inter_sample_peaks(tmp_path: Path) -> None:
    # Samples of a rate/4 sine at 45 degrees land at +-0.707 of its crest: the true peak is 3.01 dB higher.
    x = _edge_fade(_sine(RATE / 4, -6.0, 2.0, phase=np.pi / 4))
    sample_peak = 20 * np.log10(np.abs(x).max())
    tp = true_peak_db(x, RATE)
    assert sample_peak == pytest.approx(-9.01, abs=0.02)
    assert tp - sample_peak == pytest.approx(3.01, abs=0.1)
    write_float_wav(tmp_path / "isp.wav", x[None, :])
    assert tp == pytest.approx(_ebur128(tmp_path / "isp.wav")["true_peak"], abs=0.3)


@pytest.mark.parametrize("kind", ["speech", "peaky"])
def test_master_hits_target_under_ceiling(kind: str, tmp_path: Path) -> None:
    x = _speech_like() if kind == "speech" else _peaky()
    m = master_audio(x, RATE, target_lufs=-14.0, max_true_peak_db=-1.0)
    assert m.samples.shape == x.shape and m.samples.dtype == np.float32
    out_lufs = integrated_lufs(m.samples, RATE)
    out_tp = true_peak_db(m.samples, RATE)
    assert out_lufs == pytest.approx(-14.0, abs=1.0)
    assert out_tp <= -1.0
    if kind == "peaky":
        assert m.input_true_peak_db - m.input_lufs > 13.0  # so reaching -14 really needed the limiter
        assert m.limiter_db < -3.0
    path = tmp_path / "out.wav"
    write_float_wav(path, m.samples)
    ff = _ebur128(path)
    assert ff["integrated"] == pytest.approx(-14.0, abs=1.0)
    assert ff["true_peak"] <= -1.0 + 0.3
    assert out_tp == pytest.approx(ff["true_peak"], abs=0.3)
    report = m.report_dict()
    assert set(report) >= {"input_lufs", "output_lufs", "gain_db", "input_true_peak_db", "output_true_peak_db"}
    assert report["output_lufs"] == round(out_lufs, 2)
    # The loudness gain is at least what the input needed; more where the limiter took loudness off.
    assert report["gain_db"] == round(m.gain_db, 2) and m.gain_db >= -14.0 - m.input_lufs - 0.01


def test_limiter_gain_is_smooth() -> None:
    """A sudden loud passage is pulled under the ceiling by a gain that ramps (look-ahead) and recovers
    slowly: no sample-to-sample step in the gain, i.e. no click."""
    x = _sine(1000.0, -12.0, 4.0)
    loud = slice(2 * RATE, 2 * RATE + RATE // 20)
    x[loud] *= 10 ** (11.5 / 20)  # 50 ms at -0.5 dBFS peak, over the -1 dBTP ceiling
    x = _edge_fade(x)
    m = master_audio(x, RATE, target_lufs=None, max_true_peak_db=-1.0, fade_s=0.0)
    y = m.samples
    assert true_peak_db(y, RATE) <= -1.0
    big = np.abs(x) > 0.05
    gain = y[big] / x[big]
    assert gain.min() < 10 ** (-0.5 / 20)  # the loud part was limited
    assert np.abs(np.diff(gain)).max() < 0.005  # smooth: a step would jump by ~0.06 at once
    # Well before and well after the passage the level is untouched (gain back to 1 after the release).
    t = np.flatnonzero(big) / RATE
    assert np.allclose(gain[(t > 0.5) & (t < 1.9)], 1.0, atol=1e-4)
    assert np.allclose(gain[(t > 3.0) & (t < 3.9)], 1.0, atol=2e-3)
    # The gain starts falling before the passage (look-ahead), not at it.
    assert gain[(t > 1.997) & (t < 2.0)].min() < 0.999


def test_fades_start_and_end_at_zero() -> None:
    x = _speech_like()
    m = master_audio(x, RATE, fade_s=0.02)
    assert np.abs(m.samples[:, 0]).max() < 1e-6 and np.abs(m.samples[:, -1]).max() < 1e-3
    n = int(0.02 * RATE)
    head = np.abs(m.samples[0, :n])
    assert head[: n // 10].max() < 0.05 * np.abs(m.samples[0, n : 10 * n]).max()
    unfaded = master_audio(x, RATE, fade_s=0.0)
    assert np.allclose(m.samples[:, n : -n], unfaded.samples[:, n : -n])


def test_silence_stays_silent() -> None:
    m = master_audio(np.zeros((2, 2 * RATE), dtype=np.float32), RATE)
    assert not m.samples.any()
    assert m.gain_db == 0.0
    assert m.report_dict()["input_lufs"] is None


def test_target_none_leaves_level_alone() -> None:
    s = _edge_fade(np.vstack([_sine(997.0, -20.0, 5.0)] * 2))
    m = master_audio(s, RATE, target_lufs=None, max_true_peak_db=-1.0, fade_s=0.0)
    assert m.gain_db == 0.0
    assert np.allclose(m.samples, s, atol=1e-6)
    assert m.output_lufs == pytest.approx(-20.0, abs=0.05)
