import av
import numpy as np
import pytest

from streamapp.media.decode import analysis_width, iter_analysis_frames, iter_audio_blocks, read_audio_mono
from tests.media_fixtures import sample_video, silent_video


def test_analysis_frames_are_small_grey_and_timed():
    truth = sample_video()
    frames = iter_analysis_frames(truth["path"], height=48)
    t0, f0 = next(frames)
    t1, f1 = next(frames)
    assert t0 == pytest.approx(0.0, abs=1e-6) and t1 == pytest.approx(1 / truth["fps"])
    assert f0.dtype == np.uint8 and f0.shape == (48, 86)  # 16:9 at 48 px high, width even
    assert f0.flags.owndata and f1.flags.owndata
    frames.close()


def test_analysis_width_keeps_display_aspect():
    assert analysis_width(1280, 720, 1.0, 64) == 114
    assert analysis_width(640, 360, 2 / 3, 64) == 76  # anamorphic: 427x360 on screen
    assert analysis_width(720, 1280, 1.0, 64) % 2 == 0


def test_audio_blocks_are_mono_float_and_contiguous():
    truth = sample_video()
    blocks = list(iter_audio_blocks(truth["path"], 16000))
    assert blocks and all(b.dtype == np.float32 and b.ndim == 1 for _, b in blocks)
    for (ta, a), (tb, _) in zip(blocks, blocks[1:], strict=False):
        assert tb == pytest.approx(ta + a.size / 16000, abs=1e-6)
    assert sum(b.size for _, b in blocks) / 16000 == pytest.approx(truth["duration_s"], abs=0.1)


def test_no_audio_stream_gives_nothing():
    path = silent_video()["path"]
    assert list(iter_audio_blocks(path)) == []
    assert read_audio_mono(path).size == 0


def rms(y):
    return float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))


def test_read_audio_mono_range():
    truth = sample_video()
    x = read_audio_mono(truth["path"], 16000, start_s=7.5, end_s=9.5)
    assert x.size == 32000
    assert rms(x[: 8000 - 800]) > 0.03  # tone before the 8.0 s silence
    assert rms(x[8000 + 800 : 24000 - 800]) < 1e-3  # the silence
    assert rms(x[24000 + 800 :]) > 0.03


# --- codecs, odd sizes, rotation, variable frame rate, non-zero start --------------------------------

from streamapp.media.decode import iter_video_frames  # noqa: E402
from tests.media_fixtures import media_dir  # noqa: E402
from tests.videos import make_transition_video  # noqa: E402


@pytest.mark.parametrize(
    "kw",
    [
        {"codec": "libx265"},
        {"codec": "libvpx-vp9", "container": "webm"},
        {"codec": "ffv1", "container": "matroska", "size": (321, 181)},
        {"codec": "mpeg4", "size": (322, 182)},
    ],
    ids=["hevc", "vp9", "ffv1-odd", "mpeg4"],
)
def test_codecs_and_odd_sizes_keep_cuts(kw):
    if kw["codec"] not in av.codecs_available:
        pytest.skip(f"PyAV build lacks {kw['codec']}")
    ext = {"webm": "webm", "matroska": "mkv"}.get(kw.get("container", "mp4"), "mp4")
    v = make_transition_video(media_dir() / f"t-{kw['codec']}.{ext}", shots_s=(1.0, 1.0), transitions=("cut",), **kw)
    frames = list(iter_video_frames(v["path"], 64))
    assert len(frames) == v["n_frames"]
    w, h = v["size"]
    assert frames[0].grey.shape == (64, analysis_width(w, h, 1.0, 64))
    diffs = [np.abs(a.grey.astype(int) - b.grey.astype(int)).mean() for a, b in zip(frames, frames[1:], strict=False)]
    assert int(np.argmax(diffs)) + 1 == v["transitions"][0]["frame"]


def test_rotation_vfr_and_start_offset():
    v = make_transition_video(
        media_dir() / "rot.mp4", shots_s=(1.0, 1.0), transitions=("cut",), rotation=90, vfr=True, start_pts_s=2.0
    )
    frames = list(iter_video_frames(v["path"], 64, face_height=120, face_every_s=0.5))
    # 320x180 turned a quarter: portrait analysis frames.
    assert frames[0].grey.shape == (64, 36)
    assert frames[0].face_grey is not None and frames[0].face_grey.shape == (120, 68)
    got = np.array([f.t_s for f in frames])
    np.testing.assert_allclose(got, v["times_s"], atol=1e-6)  # PTS, not index * fps, from 0
    # One face picture per half second of media time: the first frame of each slot.
    slots = [int(f.t_s // 0.5) for f in frames]
    sampled = [s for f, s in zip(frames, slots, strict=True) if f.face_grey is not None]
    assert sampled == sorted(set(slots))


# --- pieces decoded side by side -----------------------------------------------------------------

from itertools import pairwise  # noqa: E402

from streamapp.media.decode import keyframe_starts  # noqa: E402

# A keyframe every second, B-frames and open GOPs: after a seek to such a keyframe, the B-frames that
# follow it in the file but show before it cannot be decoded; they belong to the piece before.
OPEN_GOP = {"preset": "veryfast", "crf": "20", "x264-params": "keyint=25:min-keyint=25:bframes=3:open-gop=1:scenecut=0"}


def test_pieces_from_keyframes_join_to_the_whole_decode():
    v = make_transition_video(media_dir() / "pieces.mp4", shots_s=(2.0,) * 6, transitions=("cut",) * 5,
                              codec_options=OPEN_GOP)
    whole = list(iter_video_frames(v["path"], 64))
    starts = keyframe_starts(v["path"], 4, 12.0)
    assert len(starts) == 4 and starts[0] == 0.0
    assert all(b - a >= 2.0 for a, b in pairwise(starts))
    # Each split lands on a keyframe (a whole second here) within a second of the even split.
    for i, t in enumerate(starts[1:], 1):
        assert abs(t - round(t)) < 1e-6 and abs(t - 12.0 * i / 4) <= 1.0
    pieces = [list(iter_video_frames(v["path"], 64, start_s=a, stop_s=b, threads=1))
              for a, b in zip(starts, [*starts[1:], None], strict=True)]
    joined = [f for piece in pieces for f in piece]
    assert [f.t_s for f in joined] == [f.t_s for f in whole]
    assert len(joined) == v["n_frames"]
    assert all(np.array_equal(a.grey, b.grey) for a, b in zip(joined, whole, strict=True))


def test_short_or_unseekable_files_stay_whole(tmp_path):
    v = make_transition_video(media_dir() / "short-pieces.mp4", shots_s=(1.0, 1.0), transitions=("cut",))
    assert keyframe_starts(v["path"], 4, 2.0) == [0.0]  # 2 s: no piece would be 2 s long
    assert keyframe_starts(tmp_path / "missing.mp4", 4, 12.0) == [0.0]


@pytest.mark.parametrize(
    "codec, container, options",
    [
        ("libx264", "mp4", {"preset": "veryfast", "crf": "20", "x264-params": "interlaced=1:tff=1"}),
        ("mpeg2video", "mpeg", {"flags": "+ilme+ildct", "b": "4M"}),
    ],
    ids=["h264-mbaff", "mpeg2-fields"],
)
def test_interlaced_input_keeps_every_frame_time_and_cut(codec, container, options):
    if codec not in av.codecs_available:
        pytest.skip(f"PyAV build lacks {codec}")
    ext = {"mpeg": "mpg"}.get(container, container)
    v = make_transition_video(media_dir() / f"interlaced-{codec}.{ext}", shots_s=(1.0, 1.0), transitions=("cut",),
                              codec=codec, container=container, codec_options=options, size=(320, 240))
    with av.open(v["path"]) as c:
        assert all(f.interlaced_frame for f in c.decode(video=0))  # really coded as fields
    frames = list(iter_video_frames(v["path"], 64))
    assert len(frames) == v["n_frames"]  # one analysis frame per coded frame, not per field
    np.testing.assert_allclose([f.t_s for f in frames], v["times_s"], atol=1e-6)
    diffs = [np.abs(a.grey.astype(int) - b.grey.astype(int)).mean() for a, b in zip(frames, frames[1:], strict=False)]
    assert int(np.argmax(diffs)) + 1 == v["transitions"][0]["frame"]
