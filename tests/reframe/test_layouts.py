"""Layout choice per shot on generated face tracks: one, two and three people; who speaks; split panels."""

import numpy as np
import pytest

from streamapp.reframe.path import LAYOUTS, Sample, plan_camera
from streamapp.reframe.speaker import speaking_scores, turns, voiced_at
from streamapp.vision.faces import Face

SRC_W, SRC_H = 1280, 720
CROP_W, CROP_H = 404, 720
OUT_W, OUT_H = 1080, 1920
RATE = 4.0
HOP = 0.05


def face(cx: float, cy: float = 330.0, size: float = 240.0) -> Face:
    return Face(cx - size / 2, cy - size / 2, size, size, 1.0)


LEFT, RIGHT = face(320), face(960)


def call(duration: float, speaker_at, rng=None) -> tuple[list[Sample], np.ndarray]:
    """A two-tile call: both faces always on screen; the speaker's mouth moves, the listener's barely."""
    rng = rng or np.random.default_rng(7)
    out = []
    for t in np.arange(0, duration, 1 / RATE):
        who = speaker_at(t)
        mouth = tuple(float(rng.uniform(3, 6)) if who == i else float(rng.uniform(0, 0.4)) for i in (0, 1))
        out.append(Sample(float(t), (LEFT, RIGHT), mouth=mouth))
    db = np.full(int(duration / HOP), -20.0)
    return out, db


def inside(box, f: Face) -> bool:
    x, y, w, h = box
    return x <= f.x and f.x + f.w <= x + w and y <= f.y and f.y + f.h <= y + h


def test_active_speaker_follows_whoever_talks_with_big_faces():
    speaker = lambda t: 0 if (t // 5) % 2 == 0 else 1  # noqa: E731
    samples, db = call(20.0, speaker)
    plan = plan_camera(samples, 20.0, SRC_W, SRC_H, CROP_W, CROP_H, out_w=OUT_W, out_h=OUT_H, speech_db=db)
    assert plan.layout == "active_speaker"
    times = np.arange(0, 20.0, 0.04)
    on_screen = []
    for t in times:
        [placement] = plan.placements_at(t)
        target = (LEFT, RIGHT)[speaker(t)]
        scale = OUT_H / placement.src[3]
        on_screen.append(inside(placement.src, target) and target.h * scale / OUT_H >= 0.15)
    assert np.mean(on_screen) >= 0.9  # the crop cuts to the new voice within the 1 s hold
    keys = plan.keyframes(0.04)
    xs = {k["x"] for k in keys}
    assert len(xs) == 2  # two framings, cut between, no pans


def test_a_short_interjection_does_not_flip_the_crop():
    speaker = lambda t: 1 if 5.0 <= t < 5.3 else 0  # noqa: E731
    samples, db = call(10.0, speaker)
    plan = plan_camera(samples, 10.0, SRC_W, SRC_H, CROP_W, CROP_H, out_w=OUT_W, out_h=OUT_H, speech_db=db)
    boxes = {plan.placements_at(t)[0].src for t in np.arange(0, 10.0, 0.1)}
    assert len(boxes) == 1 and inside(next(iter(boxes)), LEFT)


def test_mouth_motion_in_silence_is_not_speech():
    times = np.arange(0, 4, 0.25)
    db = np.full(80, -70.0)
    db[40:] = -20.0  # voiced from 2 s
    assert list(voiced_at(times, db, HOP)) == [0.0] * 8 + [1.0] * 8
    scores = np.array([[5.0] * 16, [0.0] * 8 + [5.0] * 8])
    assert [t.person for t in turns(times, scores * voiced_at(times, db, HOP), 0.0, 4.0)] == [0]


def test_rapid_exchanges_between_two_people_are_split_into_panels():
    speaker = lambda t: int((t // 1.0) % 2)  # noqa: E731  (a new speaker every second: too fast to cut to)
    samples, db = call(12.0, speaker)
    plan = plan_camera(samples, 12.0, SRC_W, SRC_H, CROP_W, CROP_H, out_w=OUT_W, out_h=OUT_H, speech_db=db)
    assert plan.layout == "split"
    top, bottom = plan.placements_at(3.0)
    assert top.dst == (0, 0, OUT_W, OUT_H // 2) and bottom.dst == (0, OUT_H // 2, OUT_W, OUT_H // 2)
    assert inside(top.src, LEFT) and inside(bottom.src, RIGHT)
    for p in (top, bottom):
        x, y, w, h = p.src
        assert all(v % 2 == 0 for v in p.src) and x >= 0 and y >= 0 and x + w <= SRC_W and y + h <= SRC_H
        assert w / h == pytest.approx(OUT_W / (OUT_H / 2), rel=0.02)
    faces = plan.output_faces_at(3.0)
    assert len(faces) == 2 and all(h / OUT_H >= 0.15 for _, _, _, h in faces)
    assert faces[0][1] + faces[0][3] <= OUT_H // 2 <= faces[1][1]  # one face per panel
    [panel_top, panel_bottom] = plan.panels(0.04)
    assert (panel_top["y"], panel_bottom["y"]) == (0, OUT_H // 2) and panel_top["crop_path"]
    assert plan.keyframes(0.04) == []  # the whole clip is split: no single crop path


def test_two_faces_together_for_under_three_seconds_are_not_split():
    samples = [Sample(float(t), (LEFT, RIGHT) if t < 2.0 else (LEFT,)) for t in np.arange(0, 8, 1 / RATE)]
    plan = plan_camera(samples, 8.0, SRC_W, SRC_H, CROP_W, CROP_H, out_w=OUT_W, out_h=OUT_H)
    assert plan.layout != "split"
    assert inside(plan.placements_at(5.0)[0].src, LEFT)


def test_three_people_fit_the_whole_frame_and_faces_map_through_the_fit():
    trio = (face(200, size=150), face(640, size=150), face(1080, size=150))
    samples = [Sample(float(t), trio) for t in np.arange(0, 6, 1 / RATE)]
    plan = plan_camera(samples, 6.0, SRC_W, SRC_H, CROP_W, CROP_H, out_w=OUT_W, out_h=OUT_H)
    assert plan.layout == "fit" and plan.placements_at(1.0) == []
    scale = OUT_W / SRC_W
    top = (OUT_H - SRC_H * scale) / 2
    mapped = plan.output_faces_at(1.0)
    assert len(mapped) == 3
    assert mapped[1] == pytest.approx((OUT_W / 2 - 75 * scale, top + 255 * scale, 150 * scale, 150 * scale))


def test_one_person_is_tracked_with_the_whole_face_box_in_the_crop():
    path = lambda t: 250 + 780 * (t / 8)  # noqa: E731
    samples = [Sample(float(t), (face(path(t), size=160),)) for t in np.arange(0, 8, 1 / RATE)]
    plan = plan_camera(samples, 8.0, SRC_W, SRC_H, CROP_W, CROP_H, out_w=OUT_W, out_h=OUT_H)
    assert plan.layout == "tracking" and plan.layout in LAYOUTS
    held = [inside(plan.placements_at(t)[0].src, face(path(t), size=160)) for t in np.arange(0, 8, 0.04)]
    assert np.mean(held) >= 0.9


def test_the_cut_lands_where_the_new_mouth_starts_not_a_sample_early():
    """A speaker trailing off before the other starts: the crop must not cut to the new face while it is still
    silent (a centred smoothing window lets the new voice lead one sample early)."""
    rng = np.random.default_rng(3)
    samples = []
    for t in np.arange(0, 10.0, 1 / RATE):
        if t < 5.0:
            mouth = (0.1 if t >= 4.25 else float(rng.uniform(3, 6)), float(rng.uniform(0, 0.2)))
        else:
            mouth = (float(rng.uniform(0, 0.2)), float(rng.uniform(8, 12)))
        samples.append(Sample(float(t), (LEFT, RIGHT), mouth=mouth))
    db = np.full(int(10.0 / HOP), -20.0)
    plan = plan_camera(samples, 10.0, SRC_W, SRC_H, CROP_W, CROP_H, out_w=OUT_W, out_h=OUT_H, speech_db=db)
    assert plan.layout == "active_speaker"
    [shot] = plan.shots
    cuts = [p[0] for p, q in zip(shot.points, shot.points[1:], strict=False) if p[0] == q[0]]
    assert len(cuts) == 1 and 5.0 <= cuts[0] <= 5.0 + 1 / RATE
    assert inside(plan.placements_at(4.9)[0].src, LEFT) and inside(plan.placements_at(5.3)[0].src, RIGHT)


def _plans():
    """One plan per layout, from generated tracks."""
    five = call(20.0, lambda t: 0 if (t // 5) % 2 == 0 else 1)
    rapid = call(12.0, lambda t: int((t // 1.0) % 2))
    walk = [Sample(float(t), (face(250 + 780 * (t / 8), size=160),)) for t in np.arange(0, 8, 1 / RATE)]
    trio = [Sample(float(t), (face(200, size=150), face(640, size=150), face(1080, size=150)))
            for t in np.arange(0, 6, 1 / RATE)]
    kw = {"out_w": OUT_W, "out_h": OUT_H}
    return {
        "active_speaker": plan_camera(five[0], 20.0, SRC_W, SRC_H, CROP_W, CROP_H, speech_db=five[1], **kw),
        "split": plan_camera(rapid[0], 12.0, SRC_W, SRC_H, CROP_W, CROP_H, speech_db=rapid[1], **kw),
        "tracking": plan_camera(walk, 8.0, SRC_W, SRC_H, CROP_W, CROP_H, cuts_s=[4.0], **kw),
        "fit": plan_camera(trio, 6.0, SRC_W, SRC_H, CROP_W, CROP_H, **kw),
    }


@pytest.mark.parametrize("layout", ["active_speaker", "split", "tracking", "fit"])
def test_placements_are_even_inside_and_keep_the_aspect(layout):
    plan = _plans()[layout]
    assert plan.layout == layout
    for t in np.arange(0, plan.duration_s, 0.04):
        placements = plan.placements_at(float(t))
        assert len(placements) == {"fit": 0, "split": 2}.get(layout, 1)
        covered = 0
        for p in placements:
            x, y, w, h = p.src
            dx, dy, dw, dh = p.dst
            assert all(v % 2 == 0 for v in (*p.src, *p.dst))
            assert x >= 0 and x + w <= SRC_W and y >= 0 and y + h <= SRC_H and w > 0 and h > 0
            assert dx >= 0 and dx + dw <= OUT_W and dy >= 0 and dy + dh <= OUT_H
            assert w / h == pytest.approx(dw / dh, rel=0.02)
            covered += dw * dh
        assert covered in (0, OUT_W * OUT_H)  # panels tile the output, no gap and no overlap


def test_output_faces_map_through_a_single_crop():
    plan = _plans()["active_speaker"]
    [p] = plan.placements_at(2.0)
    x, y, w, h = p.src
    kx, ky = OUT_W / w, OUT_H / h  # the renderer scales the crop onto the whole output
    [mapped] = plan.output_faces_at(2.0)  # the listener is outside the crop: not mapped
    assert mapped == pytest.approx(((LEFT.x - x) * kx, (LEFT.y - y) * ky, LEFT.w * kx, LEFT.h * ky))
    assert mapped[3] / OUT_H >= 0.15
    [p] = plan.placements_at(7.0)
    [mapped] = plan.output_faces_at(7.0)
    assert mapped[0] == pytest.approx((RIGHT.x - p.src[0]) * OUT_W / p.src[2])


@pytest.mark.parametrize(("turn_s", "layout"), [(2.0, "split"), (3.0, "active_speaker"), (8.0, "active_speaker")])
def test_cutting_is_kept_for_turns_long_enough_to_follow(turn_s, layout):
    """Each cut lands up to a sample after the voice: turns of 2 s are shown better as two panels."""
    samples, db = call(18.0, lambda t: int((t // turn_s) % 2))
    plan = plan_camera(samples, 18.0, SRC_W, SRC_H, CROP_W, CROP_H, out_w=OUT_W, out_h=OUT_H, speech_db=db)
    assert plan.layout == layout


def test_split_panels_stay_on_their_side_of_the_two_faces():
    """Faces off-centre in their tiles: a panel clamped into the frame must not show the other person's side."""
    left, right = face(420), face(1120)
    rng = np.random.default_rng(11)
    samples = []
    for t in np.arange(0, 12.0, 1 / RATE):
        who = int((t // 1.0) % 2)
        mouth = tuple(float(rng.uniform(3, 6)) if who == i else float(rng.uniform(0, 0.4)) for i in (0, 1))
        samples.append(Sample(float(t), (left, right), mouth=mouth))
    db = np.full(int(12.0 / HOP), -20.0)
    plan = plan_camera(samples, 12.0, SRC_W, SRC_H, CROP_W, CROP_H, out_w=OUT_W, out_h=OUT_H, speech_db=db)
    assert plan.layout == "split"
    mid = (left.x + left.w + right.x) / 2
    top, bottom = plan.placements_at(6.0)
    assert inside(top.src, left) and inside(bottom.src, right)
    assert top.src[0] + top.src[2] <= mid + 2 and bottom.src[0] >= mid - 2
    assert all(h / OUT_H >= 0.15 for _, _, _, h in plan.output_faces_at(6.0))


def test_an_edit_can_ask_for_the_crop_or_the_whole_frame_instead_of_the_planners_choice():
    speaker = lambda t: int((t // 1.0) % 2)  # noqa: E731  (split on its own: see above)
    samples, db = call(12.0, speaker)
    kwargs = {"out_w": OUT_W, "out_h": OUT_H, "speech_db": db}
    cropped = plan_camera(samples, 12.0, SRC_W, SRC_H, CROP_W, CROP_H, layout="crop", **kwargs)
    assert cropped.layout in ("still", "tracking", "active_speaker")
    assert len(cropped.placements_at(3.0)) == 1 and inside(cropped.placements_at(3.0)[0].src, LEFT)
    fitted = plan_camera(samples, 12.0, SRC_W, SRC_H, CROP_W, CROP_H, layout="fit", **kwargs)
    assert fitted.layout == "fit" and [s.layout for s in fitted.shots] == ["fit"] and fitted.placements_at(3.0) == []
    trio = (face(200, size=150), face(640, size=150), face(1080, size=150))
    crowd = [Sample(float(t), trio) for t in np.arange(0, 6, 1 / RATE)]
    crowd_cropped = plan_camera(crowd, 6.0, SRC_W, SRC_H, CROP_W, CROP_H, layout="crop", out_w=OUT_W, out_h=OUT_H)
    assert crowd_cropped.layout != "fit"
    with pytest.raises(ValueError):
        plan_camera(crowd, 6.0, SRC_W, SRC_H, CROP_W, CROP_H, layout="zoom")


def test_a_face_seen_before_a_cut_is_not_mapped_after_it():
    """Face samples every half second, a cut between two of them: the time just after the cut is nearer the
    last sample before it (a face) than the first one after (a plain picture), but that face is gone."""
    one = face(640)
    samples = [Sample(float(t), (one,) if t < 3.6 else ()) for t in np.arange(0, 8.0, 0.5)]
    plan = plan_camera(samples, 8.0, SRC_W, SRC_H, CROP_W, CROP_H, cuts_s=[3.6], out_w=OUT_W, out_h=OUT_H)
    assert [s.start_s for s in plan.shots] == [0.0, 3.6]
    assert plan.output_faces_at(3.4) and plan.faces_at(3.55) == (one,)
    assert plan.faces_at(3.65) == () and plan.output_faces_at(3.65) == []


def test_a_shot_with_fewer_face_samples_than_the_smoothing_is_planned():
    """Two people in a shot of two face samples: the speaking scores keep one value a sample (the smoothing,
    three samples wide, made three of two and the clip failed to render)."""
    mouth = np.array([[4.0, 5.0], [0.2, 0.3]])
    assert speaking_scores(mouth, np.ones(2)).shape == (2, 2)
    samples = [Sample(t, (LEFT, RIGHT), mouth=(4.0, 0.2)) for t in (0.0, 0.25)]
    plan = plan_camera(samples, 0.5, SRC_W, SRC_H, CROP_W, CROP_H, out_w=OUT_W, out_h=OUT_H,
                       speech_db=np.full(10, -20.0))
    assert plan.shots and plan.placements_at(0.1)
