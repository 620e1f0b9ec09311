"""Coarse-to-fine decode (media/coarse.py): reference frames first, every frame where the picture changes."""

from __future__ import annotations

import logging
import re

import av
import numpy as np
import pytest

from streamapp.analysis.picture import PictureAnalyzer
from streamapp.media import coarse
from streamapp.media.coarse import Decoded, GroupPlanner, PacketInfo, active, blend, packets_rule_out
from streamapp.media.decode import coarse_worthwhile, iter_video_frames
from tests.media_fixtures import media_dir
from tests.videos import make_transition_video

# B-frames (skippable), a keyframe every second, open GOPs: calm groups to blend, and groups with a cut or a
# dissolve to decode again in full.
GOPS = {"preset": "veryfast", "crf": "20", "x264-params": "keyint=25:min-keyint=25:bframes=3:open-gop=1:scenecut=0"}


def grey(value: float) -> np.ndarray:
    return np.full((4, 6), value, dtype=np.uint8)


def test_a_blend_lies_between_its_neighbours_by_time_and_says_how_far_they_differ():
    out = blend([0.0, 0.1, 0.2, 0.3], [Decoded(0.0, grey(10)), Decoded(0.2, grey(30))], Decoded(0.4, grey(70)))
    assert [f.t_s for f in out] == [0.0, 0.1, 0.2, 0.3]
    assert [int(f.grey[0, 0]) for f in out] == [10, 20, 30, 50]  # the next keyframe closes the group
    # Whether the picture stood still is judged on decoded frames: a blend's neighbours, a decoded frame's
    # previous decoded frame (none before the first: its own difference decides).
    assert [f.still_diff for f in out] == [-1.0, 20.0, 20.0, 40.0]
    # At the end of the video the last decoded frame is held, and not taken for a freeze.
    end = blend([0.0, 0.1], [Decoded(0.0, grey(5))], None)
    assert [int(f.grey[0, 0]) for f in end] == [5, 5] and end[0].still_diff == -1.0 and end[1].still_diff == 255.0


def test_a_group_is_active_when_neighbouring_decoded_frames_differ_like_a_cut_could():
    calm = [Decoded(0.0, grey(50)), Decoded(0.1, grey(51))]
    assert not active(calm, Decoded(0.2, grey(52)))
    assert active(calm, Decoded(0.2, grey(51 + coarse.ACTIVE_DIFF + 1)))  # the change is at the next keyframe
    assert active([Decoded(0.0, grey(50)), Decoded(0.1, grey(90))], None)


def test_the_planner_hands_back_a_group_once_the_next_keyframe_has_come_out():
    planner = GroupPlanner()
    for t, key in ((0.0, True), (0.3, False), (0.1, False), (0.2, False), (0.4, True), (0.5, False)):
        planner.packet(t, key)
    planner.frame(Decoded(0.0, grey(1)))
    planner.frame(Decoded(0.3, grey(2)))
    assert list(planner.ready()) == []  # the group may still grow
    planner.frame(Decoded(0.4, grey(3)))
    (start, stop, times, decoded, next_key), = list(planner.ready())
    assert (start, stop, times) == (0.0, 0.4, [0.0, 0.1, 0.2, 0.3])
    assert [d.t_s for d in decoded] == [0.0, 0.3] and next_key.t_s == 0.4
    last = list(planner.ready(final=True))
    assert [(g[0], g[1], g[2]) for g in last] == [(0.4, None, [0.4, 0.5])]


def test_the_planner_keeps_time_moving_forward_and_every_frame_in_its_group():
    planner = GroupPlanner()
    for t, key in ((0.0, True), (0.16, True)):
        planner.packet(t, key)
    for t in (0.0, 0.08, 0.16, 0.12, 0.2):  # a frame that goes back in time is dropped, as the full decode does
        planner.frame(Decoded(t, grey(1)))
    groups = list(planner.ready(final=True))
    assert [[d.t_s for d in g[3]] for g in groups] == [[0.0, 0.08], [0.16, 0.2]]


def analysed(frames: list) -> tuple[list[float], list[float]]:
    analyzer = PictureAnalyzer(25.0, detect_faces=False)
    for f in frames:
        analyzer.add(f.t_s, f.grey, None, f.still_diff)
    signals = analyzer.finish(10.0, 3.0, 0.5, 25.0)
    return signals.cuts_s, signals.gradual_s


@pytest.fixture(scope="module")
def transitions() -> dict:
    return make_transition_video(media_dir() / "coarse.mp4", shots_s=(2.0,) * 5,
                                 transitions=("cut", "dissolve", "black", "cut"), codec_options=GOPS)


def test_coarse_decode_finds_the_same_boundaries_on_the_same_frames_and_blends_the_calm_groups(transitions, caplog):
    full = list(iter_video_frames(transitions["path"], 64, face_height=90, face_every_s=0.5))
    with caplog.at_level(logging.DEBUG, logger="streamapp.media.decode"):
        fast = list(iter_video_frames(transitions["path"], 64, face_height=90, face_every_s=0.5, coarse=True))
    assert [f.t_s for f in fast] == [f.t_s for f in full]
    assert analysed(fast) == analysed(full)
    said = next(r.getMessage() for r in caplog.records if "coarse decode" in r.getMessage())
    groups, again, blended = (int(x) for x in re.findall(r"(\d+) (?:groups|decoded|frames)", said))
    assert blended > 0 and 0 < again < groups, said  # both kinds of group were there
    # Frames of groups decoded again in full are the full decode's own.
    exact = sum(np.array_equal(a.grey, b.grey) for a, b in zip(fast, full, strict=True))
    assert exact >= len(full) - blended
    # One face picture per half second, as the full decode samples them (a decoded frame of each slot).
    slots = [int(f.t_s // 0.5) for f in fast if f.face_grey is not None]
    assert slots == sorted(set(int(f.t_s // 0.5) for f in fast))


def test_pieces_decoded_apart_join_to_the_whole_coarse_decode(transitions):
    whole = list(iter_video_frames(transitions["path"], 64, face_height=90, face_every_s=0.7, coarse=True))
    # 4.0 lies inside the face slot [3.5, 4.2): that slot is sampled once, by the first piece.
    pieces = [list(iter_video_frames(transitions["path"], 64, face_height=90, face_every_s=0.7, start_s=a, stop_s=b,
                                     threads=1, coarse=True))
              for a, b in ((0.0, 4.0), (4.0, None))]
    joined = [f for piece in pieces for f in piece]
    assert [f.t_s for f in joined] == [f.t_s for f in whole]
    assert all(np.array_equal(a.grey, b.grey) for a, b in zip(joined, whole, strict=True))
    # Each piece starts on a keyframe, marked as in one pass (face detection restarts its reuse there).
    assert pieces[1][0].keyframe and [f.keyframe for f in joined] == [f.keyframe for f in whole]
    assert sum(f.keyframe for f in whole) == -(-len(whole) // 25)  # one every 25 frames (keyint=25)
    assert [f.t_s for f in joined if f.face_grey is not None] == [f.t_s for f in whole if f.face_grey is not None]


def test_a_still_picture_is_a_freeze_in_both_decodes_and_a_still_shot_is_not():
    still = make_transition_video(media_dir() / "still.mp4", shots_s=(3.0, 3.0), transitions=("cut",),
                                  codec_options=GOPS)
    spans = []
    for mode in (False, True):
        analyzer = PictureAnalyzer(25.0, detect_faces=False)
        for f in iter_video_frames(still["path"], 64, coarse=mode):
            analyzer.add(f.t_s, f.grey, None, f.still_diff)
        spans.append(analyzer.finish(10.0, 3.0, 0.5, 25.0).frozen)
    assert spans[0] == spans[1]


@pytest.mark.parametrize("limit", ["MAX_GROUP_FRAMES", "ACTIVE_DIFF"])
def test_groups_it_cannot_save_on_are_decoded_in_full(transitions, monkeypatch, limit):
    # A group longer than it holds (the rest of the piece), or groups that all change: frame for frame.
    monkeypatch.setattr("streamapp.media.decode.MAX_GROUP_FRAMES", 5) if limit == "MAX_GROUP_FRAMES" else \
        monkeypatch.setattr(coarse, "ACTIVE_DIFF", -1.0)
    full = list(iter_video_frames(transitions["path"], 64))
    fast = list(iter_video_frames(transitions["path"], 64, coarse=True))
    assert [f.t_s for f in fast] == [f.t_s for f in full]
    assert analysed(fast) == analysed(full)
    if limit == "ACTIVE_DIFF":
        assert all(np.array_equal(a.grey, b.grey) for a, b in zip(fast, full, strict=True))


def test_video_without_b_frames_decodes_as_before():
    plain = make_transition_video(media_dir() / "no-b.mp4", shots_s=(1.0, 1.0), transitions=("cut",),
                                  codec_options={"preset": "veryfast", "x264-params": "bframes=0"})
    full = list(iter_video_frames(plain["path"], 64))
    fast = list(iter_video_frames(plain["path"], 64, coarse=True))
    assert len(fast) == plain["n_frames"]
    assert all(np.array_equal(a.grey, b.grey) and a.t_s == b.t_s for a, b in zip(fast, full, strict=True))


def test_the_coarse_decode_is_chosen_once_per_file_where_it_saves_time(monkeypatch):
    calm = make_transition_video(media_dir() / "calm.mp4", shots_s=(16.0, 16.0), transitions=("cut",),
                                 codec_options=GOPS)
    assert coarse_worthwhile(calm["path"], 32.0)
    assert not coarse_worthwhile(calm["path"], 20.0)  # too short to be worth the judging
    monkeypatch.setattr("streamapp.media.decode.active", lambda decoded, next_key: True)  # every group changes
    assert not coarse_worthwhile(calm["path"], 32.0)


def test_the_first_groups_packets_can_rule_the_coarse_decode_out_before_any_decoding():
    def group(start: float, key: int, predicted: int, order: tuple[int, ...] = (0, 3, 1, 2)) -> list[PacketInfo]:
        return [PacketInfo(start + i / 10, key if i == 0 else predicted, i == 0) for i in order]

    calm = group(0.0, 10000, 900) + group(0.4, 10000, 1100)  # B-frames (reordered), small predicted frames
    assert packets_rule_out(calm) is None
    busy = group(0.0, 10000, 4000) + group(0.4, 10000, 3500)
    assert "changes all the time" in packets_rule_out(busy)
    in_order = group(0.0, 10000, 900, order=(0, 1, 2, 3))  # no B-frames: nothing a coarse decode could skip
    assert packets_rule_out(in_order) == "no B-frames to skip"
    assert packets_rule_out([PacketInfo(t / 10, 5000, True) for t in range(4)]) == "every frame is a keyframe"


def test_a_stream_without_b_frames_is_judged_without_decoding(monkeypatch):
    plain = make_transition_video(media_dir() / "no-b-long.mp4", shots_s=(16.0, 16.0), transitions=("cut",),
                                  codec_options={**GOPS, "x264-params": "keyint=25:min-keyint=25:bframes=0"})

    def no_decoding(packet):  # noqa: ANN001, ANN202
        raise AssertionError("decoded a frame to judge")

    monkeypatch.setattr("streamapp.media.decode._decode_safely", no_decoding)
    assert not coarse_worthwhile(plain["path"], 32.0)


def test_a_container_that_does_not_land_on_its_keyframes_is_decoded_in_full(tmp_path):
    calm = make_transition_video(media_dir() / "calm-ts.mp4", shots_s=(16.0, 16.0), transitions=("cut",),
                                 codec_options=GOPS)
    ts = tmp_path / "calm.ts"
    with av.open(str(calm["path"])) as src, av.open(str(ts), "w", format="mpegts") as dst:
        out = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = out
                dst.mux(packet)
    assert coarse_worthwhile(calm["path"], 32.0)
    assert not coarse_worthwhile(ts, 32.0)  # MPEG-TS seeks past the keyframe: its groups could not be decoded again
