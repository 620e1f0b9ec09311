import hashlib
from fractions import Fraction

import av
import numpy as np
import pytest

from streamapp.errors import InputError
from streamapp.media.probe import probe
from tests.media_fixtures import sample_video, silent_video


def test_probe_sample_video():
    truth = sample_video()
    info = probe(truth["path"])
    assert info.path == truth["path"]
    assert info.duration_s == pytest.approx(truth["duration_s"], abs=0.05)
    assert (info.width, info.height) == truth["size"]
    assert info.fps == pytest.approx(truth["fps"])
    assert info.has_audio
    assert info.start_s == pytest.approx(0.0, abs=0.1)
    assert info.sar == 1.0
    with open(truth["path"], "rb") as fh:
        assert info.sha256 == hashlib.sha256(fh.read()).hexdigest()


def test_probe_without_audio():
    assert not probe(silent_video()["path"]).has_audio


def _code(path):
    with pytest.raises(InputError) as err:
        probe(path)
    assert err.value.permanent
    assert "\n" not in err.value.message
    return err.value.code


def test_missing_file(tmp_path):
    assert _code(tmp_path / "nope.mp4") == "input_missing"


def test_directory_is_missing_input(tmp_path):
    assert _code(tmp_path) == "input_missing"


def test_empty_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.touch()
    assert _code(path) == "input_empty"


def test_text_file_named_mp4(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video, just some text\n" * 20)
    assert _code(path) == "input_not_video"


def test_audio_only_file_has_no_video_stream(tmp_path):
    path = tmp_path / "sound.m4a"
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=48000)
        stream.layout = "mono"
        for i in range(20):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = 48000, i * 1024, Fraction(1, 48000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    assert _code(path) == "no_video_stream"


def test_text_read_by_the_tty_demuxer_is_not_video(tmp_path):
    # Long enough text is "decoded" by FFmpeg's tty demuxer as ANSI art lasting a fraction of a second.
    path = tmp_path / "notes.txt"
    path.write_text("".join(f"some longer text line number {i} with words\n" for i in range(40)))
    with av.open(str(path)) as container:
        assert container.format.name == "tty"  # the trap is real: FFmpeg opens it as video
    assert _code(path) == "input_not_video"


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".gif", ".mp4"])
def test_still_image_is_not_video(tmp_path, suffix):
    from PIL import Image

    path = tmp_path / f"picture{suffix}"
    fmt = {".png": "PNG", ".jpg": "JPEG", ".gif": "GIF", ".mp4": "PNG"}[suffix]
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(path, format=fmt)
    assert _code(path) == "input_not_video"
