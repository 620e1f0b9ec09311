"""Deinterlacer on real interlaced H.264 frames: same count and times, combs gone, progressive untouched."""

import av
import numpy as np

from streamapp.media.deinterlace import Deinterlacer
from tests.media_fixtures import media_dir
from tests.videos import comb_score, make_interlaced_video, make_transition_video


def decoded(path: str) -> list[av.VideoFrame]:
    with av.open(path) as container:
        return list(container.decode(video=0))


def test_interlaced_frames_come_back_combless_one_for_one():
    v = make_interlaced_video(media_dir() / "sweep-interlaced.mp4")
    frames = decoded(v["path"])
    assert len(frames) == v["n_frames"] and all(f.interlaced_frame for f in frames)
    deinterlacer = Deinterlacer()
    out = [g for f in frames for g in deinterlacer.push(f)]
    assert len(out) == len(frames) - 1  # bwdif holds one frame back ...
    out += deinterlacer.flush()  # ... until the end
    assert [f.pts for f in out] == [f.pts for f in frames]
    before = np.median([comb_score(f.to_ndarray(format="gray")) for f in frames[2:-2]])
    after = np.median([comb_score(f.to_ndarray(format="gray")) for f in out[2:-2]])
    assert before > 10.0  # the source really combs
    assert after < before / 4


def test_progressive_frames_pass_straight_through():
    v = make_transition_video(media_dir() / "progressive.mp4", shots_s=(1.0,), transitions=())
    deinterlacer = Deinterlacer()
    for frame in decoded(v["path"]):
        assert deinterlacer.push(frame) == [frame]
    assert deinterlacer.flush() == [] and not deinterlacer.active
