"""`streamapp shots`: the shot list of a video, from the stage to the command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from streamapp.errors import InputError
from streamapp.stages.shots import Shot, detect_shots, shot_list
from tests.videos import make_transition_video


def test_shots_cover_the_video_and_say_how_each_began():
    shots = shot_list(12.0, [3.0, 6.2, 9.0, 12.0], [6.2])
    assert shots == [Shot(0.0, 3.0, "start"), Shot(3.0, 6.2, "cut"), Shot(6.2, 9.0, "gradual"),
                     Shot(9.0, 12.0, "cut")]
    assert shot_list(5.0, [], []) == [Shot(0.0, 5.0, "start")]


@pytest.fixture(scope="module")
def transitions(tmp_path_factory: pytest.TempPathFactory) -> dict:
    path = tmp_path_factory.mktemp("shots") / "transitions.mp4"
    return make_transition_video(path, shots_s=(3.0, 3.0, 3.0, 3.0), transitions=("cut", "dissolve", "cut"))


def test_hard_cuts_within_a_frame_and_the_dissolve_found(transitions: dict):
    found = detect_shots(transitions["path"])
    frame = 1.0 / transitions["fps"]
    assert [s.begins_with for s in found.shots] == ["start", "cut", "gradual", "cut"], found.shots
    for shot, truth in zip(found.shots[1:], transitions["transitions"], strict=True):
        at = truth["frame"] * frame
        tolerance = frame * 1.01 if truth["kind"] == "cut" else 0.5  # a dissolve's middle, within its length
        assert abs(shot.start_s - at) <= tolerance, (shot, truth)
    assert found.shots[-1].end_s == pytest.approx(found.duration_s)
    assert found.frames == len(transitions["times_s"])  # every frame decoded once


def test_a_file_that_is_not_a_video_is_refused(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    with pytest.raises(InputError) as refused:
        detect_shots(text)
    assert refused.value.code == "input_not_video"


def test_the_command_prints_the_shots_as_json_and_fails_on_bad_input_in_one_line(transitions: dict, tmp_path):
    done = subprocess.run([sys.executable, "-m", "streamapp", "shots", str(transitions["path"]), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [s["begins_with"] for s in report["shots"]] == ["start", "cut", "gradual", "cut"]
    assert report["shots"][0]["start_s"] == 0.0 and report["duration_s"] > 11.9
    missing = subprocess.run([sys.executable, "-m", "streamapp", "shots", str(tmp_path / "none.mp4")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1
    assert missing.stderr.strip().count("\n") == 0 and "input_missing" in missing.stderr
