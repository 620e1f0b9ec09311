import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from streamapp.errors import InputError
from streamapp.stages.extract import AnalysisParams, Signals, extract
from tests.media_fixtures import faststart_video, media_dir, sample_video, silent_video


@pytest.fixture(scope="module")
def truth():
    return sample_video()


@pytest.fixture(scope="module")
def run(truth):
    calls = []
    signals = extract(truth["path"], AnalysisParams(), on_progress=calls.append)
    return signals, calls


def test_cuts_within_one_frame_of_ground_truth(run, truth):
    signals, _ = run
    frame = 1.0 / truth["fps"]
    assert len(signals.cuts_s) == len(truth["cuts_s"])
    for found, expected in zip(signals.cuts_s, truth["cuts_s"], strict=True):
        assert abs(found - expected) <= frame + 1e-6


def test_silences_within_50_ms(run, truth):
    signals, _ = run
    assert len(signals.silences) == len(truth["silences"])
    for (a, b), (ea, eb) in zip(signals.silences, truth["silences"], strict=True):
        assert a == pytest.approx(ea, abs=0.05)
        assert b == pytest.approx(eb, abs=0.05)


def test_frames_motion_and_loudness_shapes(run, truth):
    signals, _ = run
    assert signals.duration_s == pytest.approx(truth["duration_s"], abs=0.05)
    assert signals.fps == pytest.approx(truth["fps"])
    assert len(signals.frame_times_s) == truth["n_frames"]
    assert signals.frame_times_s.dtype == np.float64
    assert np.all(np.diff(signals.frame_times_s) > 0)
    assert signals.frame_times_s[0] == pytest.approx(0.0, abs=1e-6)
    assert signals.motion.dtype == np.float32 and signals.motion.shape == signals.frame_times_s.shape
    assert signals.motion[0] == 0.0
    assert float(np.median(signals.motion)) > 0.0  # the pattern moves inside each shot
    assert signals.has_audio
    assert signals.loudness_db.dtype == np.float32
    assert len(signals.loudness_db) == pytest.approx(truth["duration_s"] / signals.hop_s, abs=2)


def test_loud_burst_is_louder_than_the_tone(run, truth):
    signals, _ = run
    a, b = truth["burst"]
    hop = signals.hop_s
    burst = signals.loudness_db[int((a + 0.5) / hop) : int((b - 0.5) / hop)]
    tone = signals.loudness_db[int(1 / hop) : int(4 / hop)]
    assert burst.mean() > tone.mean() + 6


def test_progress_is_bounded_monotonic_and_finishes(run):
    _, calls = run
    assert 1 <= len(calls) <= 21
    assert calls == sorted(calls)
    assert calls[-1] == 1.0
    assert all(0.0 <= c <= 1.0 for c in calls)


def test_save_load_round_trip_is_atomic(run, tmp_path):
    signals, _ = run
    path = tmp_path / "signals.npz"
    signals.save(path)
    assert os.listdir(tmp_path) == ["signals.npz"]  # no temp file left behind
    loaded = Signals.load(path)
    np.testing.assert_array_equal(loaded.frame_times_s, signals.frame_times_s)
    np.testing.assert_array_equal(loaded.motion, signals.motion)
    np.testing.assert_array_equal(loaded.loudness_db, signals.loudness_db)
    assert loaded.cuts_s == signals.cuts_s
    assert loaded.silences == signals.silences
    assert loaded.duration_s == signals.duration_s
    assert loaded.timings_s == pytest.approx(signals.timings_s)


def test_summary_is_json_safe(run, truth):
    signals, _ = run
    summary = json.loads(json.dumps(signals.to_summary()))
    assert summary["frames"] == truth["n_frames"]
    assert len(summary["cuts_s"]) == len(truth["cuts_s"])
    assert set(summary["silences"][0]) == {"start_s", "end_s"}


def test_video_without_audio():
    truth = silent_video()
    signals = extract(truth["path"])
    assert not signals.has_audio
    assert signals.loudness_db.size == 0
    assert signals.silences == []
    assert signals.cuts_s == pytest.approx(truth["cuts_s"], abs=1 / truth["fps"])


def test_truncated_file_yields_what_decodes():
    truth = faststart_video()
    cut = media_dir() / "truncated.mp4"
    data = Path(truth["path"]).read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    signals = extract(cut)
    assert signals.truncated
    assert 2.0 < signals.duration_s < truth["duration_s"] - 1.0
    assert len(signals.frame_times_s) < truth["n_frames"]
    assert signals.cuts_s[:1] == pytest.approx(truth["cuts_s"][:1], abs=1 / truth["fps"])


def test_truncated_file_without_index_is_not_a_video():
    truth = sample_video()  # index (moov) at the end: a truncated copy has none
    cut = media_dir() / "truncated_noindex.mp4"
    shutil.copyfile(truth["path"], cut)
    with open(cut, "r+b") as fh:
        fh.truncate(os.path.getsize(cut) // 2)
    with pytest.raises(InputError) as err:
        extract(cut)
    assert err.value.code == "input_not_video"


def test_audio_worker_failure_reaches_the_caller(truth, monkeypatch):
    import streamapp.stages.extract as ex

    def boom(*_a, **_k):
        raise RuntimeError("audio broke")

    monkeypatch.setattr(ex, "_audio_pass", boom)
    with pytest.raises(RuntimeError, match="audio broke"):
        extract(truth["path"], AnalysisParams(faces=False))


def test_pieces_decoded_side_by_side_give_the_one_pass_signals(monkeypatch):
    import streamapp.stages.extract as extract_module
    from streamapp.media.decode import keyframe_starts
    from tests.media.test_decode import OPEN_GOP
    from tests.videos import make_transition_video

    v = make_transition_video(media_dir() / "side-by-side.mp4", shots_s=(2.0,) * 6,
                              transitions=("cut", "dissolve", "cut", "black", "cut"), codec_options=OPEN_GOP)
    monkeypatch.setattr(extract_module, "usable_cores", lambda: 2)  # two pieces even on a 1-core machine
    assert len(keyframe_starts(v["path"], 2, 12.0)) == 2
    params = AnalysisParams(faces=True, face_every_s=0.5)
    one = extract(v["path"], AnalysisParams(**{**params.__dict__, "parallel_decode": False}))
    two = extract(v["path"], params)
    for name in ("frame_times_s", "motion", "face_times_s", "faces", "face_area"):
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name), err_msg=name)
    assert one.cuts_s == two.cuts_s and one.gradual_s == two.gradual_s and one.black == two.black
    assert len(one.cuts_s) >= 4


def test_a_probe_the_caller_has_is_not_made_again(truth, monkeypatch):
    """A job probes its input once (a probe hashes the whole file) and hands the answer to extract."""
    from streamapp.media.probe import probe
    from streamapp.stages import extract as extract_module

    info = probe(truth["path"])
    monkeypatch.setattr(extract_module, "probe", lambda path: pytest.fail("probed a second time"))
    signals = extract(truth["path"], AnalysisParams(), info=info)
    assert signals.frame_times_s.size == truth["n_frames"]
