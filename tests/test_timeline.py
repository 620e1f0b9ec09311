import opentimelineio as otio

from streamapp.timeline import write_timeline


def test_timeline_references_the_source_with_ranges_and_metadata(tmp_path):
    src = tmp_path / "source.mp4"
    src.write_bytes(b"")
    clips = [
        {"id": "job-01", "start_s": 1.0, "end_s": 4.2, "file": "job-01.mp4", "score": 81.5, "reason": "loud",
         "crop_path": [{"t_s": 0.0, "x": 438, "y": 0, "w": 404, "h": 720}]},
        {"id": "job-02", "start_s": 10.0, "end_s": 12.0, "file": "job-02.mp4", "score": 60.0, "reason": "hook",
         "crop_path": []},
    ]
    path = write_timeline(str(tmp_path / "job"), str(src), 25.0, clips, "9:16")
    assert path.endswith("job.otio")
    timeline = otio.adapters.read_from_file(path)
    items = list(timeline.tracks[0])
    assert [c.name for c in items] == ["job-01", "job-02"]
    first = items[0]
    assert first.source_range.start_time.to_seconds() == 1.0
    assert first.source_range.duration.to_seconds() == 3.2
    assert first.media_reference.target_url == src.resolve().as_uri()
    meta = first.metadata["streamapp"]
    assert meta["score"] == 81.5 and meta["crop_path"][0]["w"] == 404 and meta["file"] == "job-01.mp4"
    # A re-run rewrites the same names and leaves nothing half-written.
    write_timeline(str(tmp_path / "job"), str(src), 25.0, clips, "9:16")
    names = sorted(p.name for p in (tmp_path / "job").iterdir())
    assert names in (["job.otio"], ["job.fcpxml", "job.otio"])


def test_fcpxml_says_whether_the_source_has_sound(tmp_path):
    import xml.etree.ElementTree as ET

    clips = [{"id": "j-01", "start_s": 1.0, "end_s": 5.0, "file": "clip-01.mp4", "crop_path": []},
             {"id": "j-02", "start_s": 7.0, "end_s": 9.0, "file": "clip-02.mp4", "crop_path": []}]
    for has_audio, flag in ((True, "1"), (False, "0")):
        folder = tmp_path / str(has_audio)
        path = write_timeline(str(folder), str(tmp_path / "talk.mp4"), 25.0, clips, "9:16", 20.0, has_audio=has_audio)
        [asset] = ET.parse(folder / "job.fcpxml").getroot().iter("asset")
        assert (asset.get("hasAudio"), asset.get("hasVideo")) == (flag, "1")
        timeline = otio.adapters.read_from_file(path)
        kinds = [t.kind for t in timeline.tracks]
        assert kinds == ([otio.schema.TrackKind.Video, otio.schema.TrackKind.Audio] if has_audio
                         else [otio.schema.TrackKind.Video])
        if has_audio:  # the sound is cut exactly as the picture
            assert [c.source_range for c in timeline.tracks[1]] == [c.source_range for c in timeline.tracks[0]]
