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
