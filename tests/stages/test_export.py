"""Clip edits, the export stage's pure core: what an edit asks for, checked, and the manifest it makes."""

from __future__ import annotations

import pytest

from streamapp.errors import InputError
from streamapp.stages.export import (
    check_changes,
    edited_entry,
    edited_file_stem,
    fixed_words,
    plan_edit,
    with_clip,
)
from tests.api.memory_service import manifest_for

WORDS = [{"start_s": 10.0, "end_s": 10.4, "text": "rivers"}, {"start_s": 10.5, "end_s": 10.9, "text": "flood"},
         {"start_s": 11.0, "end_s": 11.3, "text": "every"}]


def manifest():
    made = manifest_for("job1", [(10.0, 30.0, 80.0), (40.0, 58.0, 70.0)], duration_s=60.0)
    made["clips"][0]["title"] = "Why rivers flood"
    return made


def test_an_edit_changes_only_what_it_names_and_counts_versions() -> None:
    plan = plan_edit(manifest(), "job1-01", {"start_s": 9.25})
    assert (plan.start_s, plan.end_s, plan.aspect, plan.layout, plan.version, plan.index) == (9.25, 30.0, "9:16",
                                                                                              "auto", 2, 0)
    plan = plan_edit(manifest(), "job1-02", {"end_s": 75.0, "aspect": "1:1", "layout": "fit"})
    assert (plan.end_s, plan.aspect, plan.layout) == (60.0, "1:1", "fit")  # the end stops at the video's end


@pytest.mark.parametrize("changes", [{"start_s": 30.5}, {"end_s": 10.5}, {"start_s": 61.0, "end_s": 62.0},
                                     {"start_s": 0.0, "end_s": 0.5}])
def test_an_edit_whose_range_is_empty_short_or_outside_the_video_is_refused(changes) -> None:
    with pytest.raises(InputError) as caught:
        plan_edit(manifest(), "job1-01", changes)
    assert caught.value.code == "edit_invalid"


def test_an_unknown_clip_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        plan_edit(manifest(), "job1-09", {})
    assert caught.value.code == "clip_unknown"


@pytest.mark.parametrize("body", [[], {"start_s": "ten"}, {"layout": "zoom"}, {"aspect": "2:1"}, {"title": "x"},
                                  {"caption_fixes": [{"start_s": 1.0}]}, {"end_s": 0}, {"start_s": 1e307}])
def test_a_malformed_edit_request_is_refused_in_one_line(body) -> None:
    with pytest.raises(InputError) as caught:
        check_changes(body)
    assert caught.value.code == "edit_invalid" and "\n" not in caught.value.message


def test_caption_fixes_replace_or_remove_the_word_at_their_time_and_stay_through_later_edits() -> None:
    assert [w["text"] for w in fixed_words(WORDS, [(10.52, "floods"), (11.0, ""), (20.0, "nowhere")])] == [
        "rivers", "floods"]
    assert WORDS[1]["text"] == "flood"  # the transcript itself is not changed
    first = plan_edit(manifest(), "job1-01", {"caption_fixes": [{"start_s": 10.5, "text": "floods"}]})
    rendered = {"path": f"/out/job1/{edited_file_stem(manifest()['clips'][0], first)}.mp4", "width": 1080,
                "height": 1920, "start_s": 10.0, "end_s": 30.0, "captions_srt": None, "captions_vtt": None,
                "thumbnail": None, "layout": "still"}
    entry = edited_entry("job1", manifest()["clips"][0], first, "e1", rendered, "9:16")
    assert entry["file"] == "clip-01-why-rivers-flood-v2.mp4" and entry["version"] == 2 and entry["edit_id"] == "e1"
    assert entry["title"] == "Why rivers flood" and entry["score"] == 80.0 and entry["id"] == "job1-01"
    assert "aspect" not in entry  # unchanged from the job's
    edited = with_clip(manifest(), entry)
    assert edited["clips"][0] == entry and edited["clips"][1] == manifest()["clips"][1]
    second = plan_edit(edited, "job1-01", {"start_s": 9.0, "caption_fixes": [{"start_s": 10.0, "text": "Rivers"}]})
    assert second.version == 3 and second.caption_fixes == ((10.0, "Rivers"), (10.5, "floods"))


def test_a_clip_render_reads_only_its_own_words_cuts_and_loudness() -> None:
    import numpy as np

    from streamapp.stages.export import clip_inputs
    from streamapp.stages.extract import Signals

    times = np.arange(0, 20, 0.04)
    loud = np.arange(400, dtype=np.float32)  # one value per 0.05 s hop: its index
    signals = Signals(20.0, 25.0, times, np.zeros(times.size, np.float32), [2.0, 10.5, 15.0], 0.05, loud, True, [],
                      words=WORDS)
    inputs = clip_inputs(signals, 10.45, 11.1)
    assert [w["text"] for w in inputs.words] == ["flood", "every"] and inputs.cuts_s == [10.5]
    assert inputs.loudness_db == [float(i) for i in range(209, 222)]
    silent = Signals(20.0, 25.0, times, np.zeros(times.size, np.float32), [], 0.05, np.zeros(0, np.float32), False, [])
    assert clip_inputs(silent, 1.0, 2.0) == type(inputs)(None, [], None)


def test_a_rerun_with_fewer_clips_leaves_no_stale_clip_files() -> None:
    from streamapp.stages.export import stale_clip_files

    names = ["manifest.json", "job.otio", "clip-01-a.mp4", "clip-01-a.jpg", "clip-01-a.srt", "clip-02-b.mp4",
             "clip-02-b.vtt", "clip-03.mp4"]
    assert stale_clip_files(names, [{"file": "clip-01-a.mp4"}, {"file": "clip-03.mp4"}]) == [
        "clip-02-b.mp4", "clip-02-b.vtt"]


def test_not_a_number_and_too_many_fixes_are_refused_and_applied_edits_are_remembered() -> None:
    for body in ({"start_s": float("nan")}, {"caption_fixes": [{"start_s": float("inf"), "text": "x"}]}):
        with pytest.raises(InputError):
            check_changes(body)
    crowded = manifest()
    crowded["clips"][0]["caption_fixes"] = [{"start_s": float(i), "text": "w"} for i in range(500)]
    with pytest.raises(InputError) as caught:
        plan_edit(crowded, "job1-01", {"caption_fixes": [{"start_s": 900.0, "text": "x"}]})
    assert caught.value.code == "edit_invalid"
    clip = {**manifest()["clips"][0], "applied_edits": [f"old{i}" for i in range(50)]}
    plan = plan_edit({**manifest(), "clips": [clip]}, "job1-01", {})
    rendered = {"path": "/o/clip.mp4", "width": 8, "height": 8, "captions_srt": None, "captions_vtt": None,
                "thumbnail": None}
    entry = edited_entry("job1", clip, plan, "new", rendered, "9:16")
    assert entry["applied_edits"][-1] == "new" and len(entry["applied_edits"]) == 50 and "old0" not in entry[
        "applied_edits"]
