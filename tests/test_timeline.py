import opentimelineio as otio
import pytest

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


@pytest.mark.parametrize(("fps", "frame"), [(30000 / 1001, "1001/30000s"), (24000 / 1001, "1001/24000s"),
                                            (25.0, "1/25s"), (15.0, "100/3000s")])
def test_fcpxml_for_probed_rates_keeps_exact_source_times(tmp_path, fps: float, frame: str):
    import xml.etree.ElementTree as ET
    from fractions import Fraction

    # Probing gives NTSC as 30000/1001 = 29.97002997..., which the adapter has no entry for: no FCPXML was
    # written at all. Times must land on the source's real frames, the sound exactly under its picture.
    clips = [{"id": "a", "start_s": 1.0, "end_s": 5.0, "file": "a.mp4", "crop_path": []},
             {"id": "b", "start_s": 1207.3, "end_s": 1209.1, "file": "b.mp4", "crop_path": []}]
    write_timeline(str(tmp_path), str(tmp_path / "talk.mp4"), fps, clips, "9:16", 1300.0, has_audio=True)
    root = ET.parse(tmp_path / "job.fcpxml").getroot()
    assert root.find("./resources/format").get("frameDuration") == frame
    rate = Fraction(fps).limit_denominator(1001)

    def secs(text: str) -> Fraction:
        return Fraction(text[:-1]) if text != "0s" else Fraction(0)

    spine = root.find("./project/sequence/spine")
    offset = Fraction(0)
    for clip, item in zip(spine.findall("clip"), clips, strict=True):
        start = round(item["start_s"] * fps) / rate  # the frame build_timeline snaps to, at its exact time
        duration = round(item["end_s"] * fps) / rate - start
        assert (secs(clip.get("start")), secs(clip.get("duration")), secs(clip.get("offset"))) == (
            start, duration, offset)
        [sound] = clip.findall("clip")
        assert sound.get("lane") == "-1" and sound.find("./gap/audio") is not None
        assert (secs(sound.get("offset")), secs(sound.get("start")), secs(sound.get("duration"))) == (
            start, start, duration)
        offset += duration
