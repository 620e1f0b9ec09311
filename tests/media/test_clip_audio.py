"""read_clip_audio: media-time placement of a clip's sound, no-audio sources, range and damage handling."""

from __future__ import annotations

from pathlib import Path

import av
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


def _remux_with_holes(src: str, dst: Path, hole_s: float) -> list[tuple[float, float]]:
    """Copy ``src`` with the audio pushed ``hole_s`` later at each whole second (as dropped packets in a live
    recording leave holes); returns the holes' media times (source starts at 0 on both streams)."""
    holes = []
    with av.open(src) as inp, av.open(str(dst), "w") as out:
        vin, ain = inp.streams.video[0], inp.streams.audio[0]
        vout, aout = out.add_stream_from_template(vin), out.add_stream_from_template(ain)
        shift, prev_end = 0, None
        for pkt in inp.demux():
            if pkt.dts is None:
                continue
            if pkt.stream is ain:
                k = int(np.floor(float(pkt.pts * ain.time_base)))
                want = int(round(k * hole_s / ain.time_base))
                if want != shift and prev_end is not None:
                    holes.append((prev_end, float((pkt.pts + want) * ain.time_base)))
                shift = want
                pkt.pts += shift
                pkt.dts += shift
                prev_end = float((pkt.pts + pkt.duration) * ain.time_base)
                pkt.stream = aout
            else:
                pkt.stream = vout
            out.mux(pkt)
    return holes


def test_holes_in_the_audio_stay_in_sync(video: dict, tmp_path) -> None:
    # 40 ms holes every second: each must come out as 40 ms of silence where it is, not be closed up
    # (which would pull the sound ahead of the picture by 40 ms more per hole).
    gappy = tmp_path / "gappy.mp4"
    holes = _remux_with_holes(video["path"], gappy, 0.04)
    t0, samples = read_clip_audio(str(gappy), 2.5, 6.5, AUDIO_RATE)
    runs = _silent_runs(t0, samples, min_len_s=0.02)
    want = [h for h in holes if 2.4 < h[0] < 6.6]
    assert len(want) == 4 and len(runs) == len(want), (runs, want)
    for (a, b), (ha, hb) in zip(runs, want, strict=True):
        # AAC's overlapping windows smear a hole's edges by part of a frame; the hole's place is what matters.
        assert a == pytest.approx(ha, abs=0.004) and b == pytest.approx(hb, abs=0.004)


def _aac_source(path: Path, layout: str, rate: int, active: int) -> None:
    """4 s of 64x64 video and an AAC track: a 440 Hz tone at -20 dBFS RMS on channel ``active`` from 1.5 s,
    silence on the other channels and before."""
    with av.open(str(path), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width = vs.height = 64
        vs.pix_fmt = "yuv420p"
        vs.options = {"preset": "ultrafast"}
        aus = out.add_stream("aac", rate=rate)
        aus.layout = layout
        n_ch = aus.layout.nb_channels if hasattr(aus.layout, "nb_channels") else len(aus.layout.channels)
        n = 4 * rate
        t = np.arange(n) / rate
        sig = np.zeros((n_ch, n), dtype=np.float32)
        sig[active] = (np.sqrt(2) * 0.1 * np.sin(2 * np.pi * 440 * t) * (t >= 1.5)).astype(np.float32)
        for i in range(0, n, 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(sig[:, i : i + 1024]), format="fltp", layout=layout)
            frame.sample_rate = rate
            frame.pts = i
            out.mux(aus.encode(frame))
        out.mux(aus.encode(None))
        for i in range(100):
            img = np.full((64, 64, 3), 2 * i, dtype=np.uint8)
            out.mux(vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(vs.encode(None))


@pytest.mark.parametrize(("layout", "rate", "active"), [("mono", 44100, 0), ("5.1", 48000, 2), ("stereo", 32000, 1)])
def test_layouts_and_rates_become_stereo_48k_on_media_time(tmp_path, layout: str, rate: int, active: int) -> None:
    path = tmp_path / f"{layout}.mp4"
    _aac_source(path, layout, rate, active)
    t0, samples = read_clip_audio(str(path), 1.0, 3.0, AUDIO_RATE)
    assert samples.shape == (2, int(round(2.2 * AUDIO_RATE))) and samples.dtype == np.float32
    env = np.max(np.abs(samples), axis=0)
    onset = t0 + np.flatnonzero(env > 0.02)[0] / AUDIO_RATE
    assert onset == pytest.approx(1.5, abs=0.001)  # the tone starts where it was put, within 1 ms
    rms = np.sqrt(np.mean(samples[:, int((1.6 - t0) * AUDIO_RATE) :] ** 2, axis=1))
    if layout == "stereo":  # a right-only tone stays on the right
        assert rms[0] < 1e-3 and rms[1] == pytest.approx(0.1, rel=0.1)
    else:  # mono is duplicated, the 5.1 centre is folded into both sides
        assert rms[0] == pytest.approx(rms[1], rel=0.01) and rms[0] > 0.05
