"""read_clip_audio: media-time placement of a clip's sound, no-audio sources, range and damage handling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streamapp.media.clip_audio import read_clip_audio
from tests.videos import AUDIO_RATE, make_test_video

SILENCES = ((8.0, 9.0), (25.3, 26.1))


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> dict:
    path = tmp_path_factory.mktemp("clip_audio") / "tone.mp4"
    return make_test_video(path, duration_s=30.0, silences=SILENCES, faststart=True)


def _silent_runs(t0: float, samples: np.ndarray, min_len_s: float = 0.05) -> list[tuple[float, float]]:
    """(start, end) media times of runs where both channels stay under -40 dBFS for ``min_len_s``+."""
    quiet = np.max(np.abs(samples), axis=0) < 0.01
    edges = np.flatnonzero(np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]])))
    runs = []
    for a, b in zip(edges[0::2], edges[1::2], strict=True):
        if (b - a) / AUDIO_RATE >= min_len_s:
            runs.append((t0 + a / AUDIO_RATE, t0 + b / AUDIO_RATE))
    return runs


@pytest.mark.parametrize(("start_s", "end_s", "silence"), [(6.0, 10.5, SILENCES[0]), (24.0, 27.0, SILENCES[1]),
                                                           (8.5, 12.0, None)])
def test_silence_edges_at_known_media_times(video: dict, start_s: float, end_s: float, silence) -> None:
    got = read_clip_audio(video["path"], start_s, end_s, AUDIO_RATE)
    assert got is not None
    t0, samples = got
    assert samples.dtype == np.float32 and samples.shape[0] == 2
    runs = _silent_runs(t0, samples)
    if silence is None:  # the range starts inside the silence: its end is the only edge
        assert len(runs) == 1 and runs[0][0] == pytest.approx(t0, abs=1e-6)
        assert runs[0][1] == pytest.approx(SILENCES[0][1], abs=0.002)
        return
    assert len(runs) == 1, runs
    assert runs[0][0] == pytest.approx(silence[0], abs=0.002)
    assert runs[0][1] == pytest.approx(silence[1], abs=0.002)
    # Both channels carry the (mono-duplicated) tone outside the silence.
    loud = samples[:, : int((silence[0] - t0 - 0.05) * AUDIO_RATE)]
    assert np.sqrt(np.mean(loud**2, axis=1)) == pytest.approx([0.1, 0.1], rel=0.1)


def test_range_respected(video: dict) -> None:
    t0, samples = read_clip_audio(video["path"], 12.0, 15.5, AUDIO_RATE)
    assert t0 == pytest.approx(11.9, abs=1.0 / AUDIO_RATE)
    assert samples.shape[1] / AUDIO_RATE == pytest.approx(15.6 - 11.9, abs=2.0 / AUDIO_RATE)
    # The burst (14-19 s, -3 dBFS peak noise) starts inside the range where it should.
    env = np.max(np.abs(samples), axis=0)
    first_burst = t0 + np.flatnonzero(env > 0.3)[0] / AUDIO_RATE
    assert first_burst == pytest.approx(14.0, abs=0.003)


def test_range_at_start_is_on_media_time(video: dict) -> None:
    t0, samples = read_clip_audio(video["path"], 0.0, 2.0, AUDIO_RATE)
    assert t0 == pytest.approx(-0.1, abs=1.0 / AUDIO_RATE)
    assert samples.shape[1] == pytest.approx(2.2 * AUDIO_RATE, abs=2)
    lead = samples[:, : int(0.1 * AUDIO_RATE) - 2]  # before the first video frame: no sound exists
    assert np.abs(lead).max() < 1e-3
    assert np.sqrt(np.mean(samples[:, int(0.2 * AUDIO_RATE) :] ** 2)) == pytest.approx(0.1, rel=0.1)


def test_no_audio_stream_gives_none(tmp_path) -> None:
    info = make_test_video(tmp_path / "silent.mp4", duration_s=2.0, audio=False)
    assert read_clip_audio(info["path"], 0.5, 1.5, AUDIO_RATE) is None


def test_truncated_file_gives_what_decoded_padded_with_silence(video: dict, tmp_path) -> None:
    data = Path(video["path"]).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.5)])  # faststart: the index survives, the media ends early
    t0, samples = read_clip_audio(str(cut), 10.0, 29.0, AUDIO_RATE)
    assert t0 == pytest.approx(9.9, abs=1.0 / AUDIO_RATE)
    assert samples.shape[1] == pytest.approx(19.2 * AUDIO_RATE, abs=2)
    env = np.max(np.abs(samples), axis=0)
    assert env[: AUDIO_RATE].max() > 0.1  # the start decoded
    assert env[-AUDIO_RATE:].max() == 0.0  # the lost end is silence
