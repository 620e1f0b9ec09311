import numpy as np
import pytest

from streamapp.reframe.path import (
    LAYOUTS,
    CameraPlan,
    PlanParams,
    Sample,
    centered_plan,
    plan_camera,
    shot_ranges,
)
from streamapp.vision.faces import Face

SRC_W, SRC_H = 1280, 720
CROP_W, CROP_H = 404, 720
FPS = 25


def face_at(cx: float, cy: float = 300.0, size: float = 120.0) -> Face:
    return Face(cx - size / 2, cy - size / 2, size, size, 1.0)


def samples(fn, duration: float, rate: float = 5.0) -> list[Sample]:
    return [Sample(t, (face_at(fn(t)),)) for t in np.arange(0, duration, 1 / rate)]


def xs(plan: CameraPlan, duration: float) -> np.ndarray:
    return np.array([plan.box_at(t)[0] for t in np.arange(0, duration, 1 / FPS)], dtype=float)


def test_dead_zone_holds_still_on_small_jitter():
    rng = np.random.default_rng(3)
    # +/-30 px of detector jitter around a face that does not move: well inside 25% of 404 px.
    s = samples(lambda t: 640 + rng.uniform(-30, 30), 10.0)
    plan = plan_camera(s, 10.0, SRC_W, SRC_H, CROP_W, CROP_H)
    assert plan.layout == "still"
    assert np.ptp(xs(plan, 10.0)) == 0


def test_tracking_follows_a_moving_face_with_capped_speed():
    params = PlanParams()
    # The face walks from x=250 to x=1030 and back: far more than one crop can hold.
    s = samples(lambda t: 250 + 780 * (t / 5 if t < 5 else 2 - t / 5), 10.0)
    plan = plan_camera(s, 10.0, SRC_W, SRC_H, CROP_W, CROP_H, params=params)
    assert plan.layout == "tracking"
    x = xs(plan, 10.0)
    speed = np.abs(np.diff(x)) * FPS
    assert speed.max() <= params.max_speed * CROP_W * 1.05 + 2 * FPS  # even rounding: at most 2 px a frame
    centres = x + CROP_W / 2
    # Most of the time the face is inside the crop (the camera lags only while catching up).
    inside = [abs(c - (250 + 780 * (t / 5 if t < 5 else 2 - t / 5))) < CROP_W / 2 - 60
              for c, t in zip(centres, np.arange(0, 10.0, 1 / FPS), strict=False)]
    assert np.mean(inside) >= 0.9
    # Pans, not jitter: few direction reversals.
    steps = np.diff(x)
    signs = np.sign(steps[np.abs(steps) >= 1])
    assert np.count_nonzero(np.diff(signs)) <= 3


def test_jump_only_at_a_cut():
    # Shot 1: face on the left; shot 2 (from 4 s): face on the right.
    s = samples(lambda t: 300 if t < 4 else 1000, 8.0)
    plan = plan_camera(s, 8.0, SRC_W, SRC_H, CROP_W, CROP_H, cuts_s=[4.0])
    x = xs(plan, 8.0)
    jumps = np.nonzero(np.abs(np.diff(x)) > 20)[0]
    assert list(jumps) == [4 * FPS - 1]
    assert [s.layout for s in plan.shots] == ["still", "still"]


def test_no_jump_without_a_cut():
    s = samples(lambda t: 300 if t < 4 else 1000, 8.0)
    plan = plan_camera(s, 8.0, SRC_W, SRC_H, CROP_W, CROP_H)
    steps = np.abs(np.diff(xs(plan, 8.0)))
    assert steps.max() <= PlanParams().max_speed * CROP_W / FPS + 2


def test_two_people_far_apart_with_no_sign_of_who_speaks_are_split():
    s = [Sample(t, (face_at(250), face_at(1050))) for t in np.arange(0, 6, 0.2)]
    plan = plan_camera(s, 6.0, SRC_W, SRC_H, CROP_W, CROP_H)
    assert plan.layout == "split"


def test_two_people_close_together_share_one_still_crop():
    s = [Sample(t, (face_at(560, size=100), face_at(740, size=100))) for t in np.arange(0, 6, 0.2)]
    plan = plan_camera(s, 6.0, SRC_W, SRC_H, CROP_W, CROP_H)
    assert plan.layout == "still"
    x, _, w, _ = plan.box_at(2.0)
    assert x <= 510 and x + w >= 790


def test_no_face_follows_consistent_motion_else_centre():
    moving = [Sample(t, (), (1000.0, 360.0)) for t in np.arange(0, 5, 0.2)]
    plan = plan_camera(moving, 5.0, SRC_W, SRC_H, CROP_W, CROP_H)
    x, _, w, _ = plan.box_at(2.0)
    assert plan.layout == "still" and x < 1000 < x + w
    nothing = [Sample(t) for t in np.arange(0, 5, 0.2)]
    plan = plan_camera(nothing, 5.0, SRC_W, SRC_H, CROP_W, CROP_H)
    assert plan.layout == "still" and plan.box_at(1.0) == ((SRC_W - CROP_W) // 2 // 2 * 2, 0, CROP_W, CROP_H)


def test_a_lone_false_detection_is_ignored():
    s = [Sample(t, (face_at(1100),) if i == 7 else ()) for i, t in enumerate(np.arange(0, 6, 0.2))]
    plan = plan_camera(s, 6.0, SRC_W, SRC_H, CROP_W, CROP_H)
    assert plan.layout == "still" and plan.box_at(1.0)[0] == (SRC_W - CROP_W) // 2 // 2 * 2


@pytest.mark.parametrize("fn", [lambda t: 20.0, lambda t: 1270.0, lambda t: 100 + 200 * t])
def test_boxes_and_keyframes_stay_inside_the_frame(fn):
    s = samples(fn, 6.0)
    plan = plan_camera(s, 6.0, SRC_W, SRC_H, CROP_W, CROP_H, cuts_s=[3.0])
    for t in np.arange(0, 6, 1 / FPS):
        x, y, w, h = plan.box_at(t)
        assert x >= 0 and x + w <= SRC_W and y >= 0 and y + h <= SRC_H
        assert x % 2 == 0 and y % 2 == 0
    keys = plan.keyframes(1 / FPS)
    assert keys[0]["t_s"] == 0.0
    assert all(k["x"] >= 0 and k["x"] + k["w"] <= SRC_W for k in keys)
    assert [k["t_s"] for k in keys] == sorted(k["t_s"] for k in keys)


def test_keyframes_are_sparse_and_reproduce_the_path():
    s = samples(lambda t: 250 + 780 * min(1.0, t / 5), 10.0)
    plan = plan_camera(s, 10.0, SRC_W, SRC_H, CROP_W, CROP_H, cuts_s=[7.0])
    keys = plan.keyframes(1 / FPS)
    assert len(keys) < 20  # pan starts/ends and shot edges, not one per frame
    for k in keys:
        assert plan.box_at(k["t_s"])[0] == k["x"]
    # A cut gets a keyframe on the last frame before it and one on it.
    times = [k["t_s"] for k in keys]
    assert 7.0 in times and round(7.0 - 1 / FPS, 3) in times


def test_vertical_source_pans_in_y():
    # A 9:16 source rendered 16:9: the crop is full width and moves vertically.
    s = [Sample(t, (face_at(360, cy=200 + 150 * t, size=100),)) for t in np.arange(0, 8, 0.2)]
    plan = plan_camera(s, 8.0, 720, 1280, 720, 404)
    ys = [plan.box_at(t)[1] for t in np.arange(0, 8, 0.04)]
    assert plan.layout == "tracking" and ys[-1] > ys[0] + 300


def test_shot_ranges_and_centered_plan():
    assert shot_ranges(10.0, [0.05, 4.0, 4.1, 9.95]) == [(0.0, 4.0), (4.0, 10.0)]
    plan = centered_plan(5.0, 1280, 720, (438, 0, 404, 720))
    assert plan.layout == "still" and plan.box_at(3.3) == (438, 0, 404, 720)
    assert plan.keyframes(0.04) == [
        {"t_s": 0.0, "x": 438, "y": 0, "w": 404, "h": 720}, {"t_s": 4.96, "x": 438, "y": 0, "w": 404, "h": 720}
    ]



def test_the_layout_names_are_the_five_of_the_contract():
    assert LAYOUTS == ("tracking", "active_speaker", "split", "fit", "still")
    assert "center" not in LAYOUTS  # nothing to follow is a centred still crop
    plan = plan_camera([], 4.0, 1280, 720, 404, 720, out_w=1080, out_h=1920)
    assert plan.layout == "still" and plan.box_at(1.0) == ((1280 - 404) // 2 // 2 * 2, 0, 404, 720)
    assert plan.placements_at(1.0)[0].dst == (0, 0, 1080, 1920) and plan.panels() == []
    plan = centered_plan(5.0, 1280, 720, (438, 0, 404, 720), out_w=1080, out_h=1920)
    assert [p.src for p in plan.placements_at(2.0)] == [(438, 0, 404, 720)]
