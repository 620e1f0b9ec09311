import os

import av
import cv2
import numpy as np
import pysubs2
import pytest

from streamapp.errors import InputError, MediaError
from streamapp.export.render import ASPECTS, RenderParams, center_crop_box, output_size, render_clip
from streamapp.reframe.path import LAYOUTS
from tests.media_fixtures import sample_video, silent_video


def _decode(path):
    """Frame count, video end, audio end and first/last frames (rgb) of a rendered file."""
    with av.open(path) as c:
        v = c.streams.video[0]
        frames = [(f.time, f.to_ndarray(format="rgb24")) for f in c.decode(v)]
        fps = float(v.average_rate)
    info = {"n": len(frames), "first": frames[0][1], "last": frames[-1][1]}
    info["video_end"] = frames[-1][0] + 1 / fps
    info["width"], info["height"] = frames[0][1].shape[1], frames[0][1].shape[0]
    with av.open(path) as c:
        info["has_audio"] = bool(c.streams.audio)
        if c.streams.audio:
            a = c.streams.audio[0]
            info["audio_end"] = float(a.duration * a.time_base)
            samples = sum(f.samples for f in c.decode(a))
            info["audio_decoded_s"] = samples / a.rate
    return info


@pytest.fixture(scope="module")
def truth():
    return sample_video()


@pytest.fixture(scope="module")
def clip_916(truth, tmp_path_factory):
    out = tmp_path_factory.mktemp("render") / "clip.mp4"
    thumb = str(out.with_suffix(".jpg"))
    # Starts exactly on the cut at 12.4 s and ends exactly on the cut at 21.0 s.
    start, end = truth["cuts_s"][1], truth["cuts_s"][2]
    result = render_clip(truth["path"], start, end, "9:16", str(out), RenderParams(180, 320), thumb)
    return result, start, end


def test_render_output_decodes_with_requested_size(clip_916):
    result, start, end = clip_916
    info = _decode(result.path)
    assert (info["width"], info["height"]) == (180, 320) == (result.width, result.height)
    assert info["has_audio"] and result.has_audio


def test_render_duration_is_frame_exact(clip_916, truth):
    result, start, end = clip_916
    info = _decode(result.path)
    frame = 1 / truth["fps"]
    assert info["n"] == round((end - start) * truth["fps"])
    assert abs(info["video_end"] - (end - start)) <= frame + 1e-6
    assert abs(result.duration_s - (end - start)) <= frame + 1e-6


def test_render_audio_matches_video(clip_916):
    result, _, _ = clip_916
    info = _decode(result.path)
    assert abs(info["audio_end"] - info["video_end"]) <= 0.05
    assert abs(info["audio_decoded_s"] - info["video_end"]) <= 0.05


def test_render_is_cut_exactly_at_the_shot_boundaries(clip_916, truth):
    result, start, end = clip_916
    info = _decode(result.path)
    # Shot 2 runs from cut 1 to cut 2: the clip must hold no frame of its neighbours.
    fps = truth["fps"]
    with av.open(truth["path"]) as c:
        src = {round(f.time * fps): f.to_ndarray(format="rgb24") for f in c.decode(video=0)}

    def colour(img):
        return img.reshape(-1, 3).astype(float).mean(axis=0)

    def crop(img, key):
        x, y, w, h = (int(key[k]) for k in "xywh")
        return cv2.resize(img[y : y + h, x : x + w], (180, 320), interpolation=cv2.INTER_AREA)

    head, tail = result.crop_path[0], result.crop_path[-1]

    first_idx, last_idx = round(start * fps), round(end * fps) - 1
    assert np.abs(colour(info["first"]) - colour(crop(src[first_idx], head))).max() < 8
    assert np.abs(colour(info["first"]) - colour(crop(src[first_idx - 1], head))).max() > 30
    assert np.abs(colour(info["last"]) - colour(crop(src[last_idx], tail))).max() < 8
    assert np.abs(colour(info["last"]) - colour(crop(src[last_idx + 1], tail))).max() > 30


def test_render_thumbnail_and_no_partial_files(clip_916):
    result, _, _ = clip_916
    assert result.thumbnail and os.path.exists(result.thumbnail)
    img = cv2.imread(result.thumbnail)
    assert img.shape[:2] == (320, 180)
    leftovers = [n for n in os.listdir(os.path.dirname(result.path)) if ".part" in n]
    assert leftovers == []


@pytest.mark.parametrize("aspect,size", [("1:1", (160, 160)), ("16:9", (256, 144)), ("4:5", (144, 180))])
def test_render_other_aspects_mid_gop(truth, tmp_path, aspect, size):
    out = str(tmp_path / "c.mp4")
    start, end = 3.33, 7.91  # not on keyframes or frame times
    result = render_clip(truth["path"], start, end, aspect, out, RenderParams(*size))
    info = _decode(out)
    assert (info["width"], info["height"]) == size
    assert info["width"] / info["height"] == pytest.approx(ASPECTS[aspect][0] / ASPECTS[aspect][1], rel=0.02)
    assert abs(info["video_end"] - (end - start)) <= 1 / truth["fps"] + 1e-6
    assert abs(info["audio_end"] - info["video_end"]) <= 0.05
    assert result.thumbnail is None


def test_render_source_without_audio(tmp_path):
    truth = silent_video()
    out = str(tmp_path / "n.mp4")
    result = render_clip(truth["path"], 0.5, 3.5, "9:16", out, RenderParams(90, 160))
    info = _decode(out)
    assert not result.has_audio and not info["has_audio"]
    assert info["n"] == 75


def test_render_range_past_the_end_fails_cleanly(truth, tmp_path):
    out = tmp_path / "x.mp4"
    with pytest.raises(MediaError) as err:
        render_clip(truth["path"], 100.0, 110.0, "9:16", str(out), RenderParams(90, 160))
    assert err.value.code == "clip_empty"
    assert os.listdir(tmp_path) == []


def test_render_rejects_bad_arguments(truth, tmp_path):
    with pytest.raises(InputError) as err:
        render_clip(truth["path"], 5.0, 5.0, "9:16", str(tmp_path / "a.mp4"), RenderParams(90, 160))
    assert err.value.code == "clip_invalid"
    with pytest.raises(InputError) as err:
        render_clip(truth["path"], 0.0, 5.0, "3:7", str(tmp_path / "a.mp4"), RenderParams(90, 160))
    assert err.value.code == "aspect_invalid"


def test_output_sizes():
    assert output_size("9:16") == (1080, 1920)
    assert output_size("16:9") == (1920, 1080)
    assert output_size("4:5") == (1536, 1920)
    assert output_size("1:1") == (1080, 1080)
    assert output_size("9:16", 1280) == (720, 1280)
    for aspect in ASPECTS:
        w, h = output_size(aspect, 1001)
        assert w % 2 == 0 and h % 2 == 0


def test_center_crop_box():
    assert center_crop_box(1280, 720, "9:16") == (438, 0, 404, 720)
    assert center_crop_box(1280, 720, "16:9") == (0, 0, 1280, 720)
    assert center_crop_box(720, 1280, "16:9") == (0, 438, 720, 404)
    assert center_crop_box(1920, 1080, "1:1") == (420, 0, 1080, 1080)
    # Anamorphic 2:3 pixels: 640x360 displays as 427x360, so a square crop is 540 px wide.
    x, y, w, h = center_crop_box(640, 360, "1:1", sar=2 / 3)
    assert (w * 2 / 3) / h == pytest.approx(1.0, abs=0.01) and (x, y, h) == (50, 0, 360)
    for aspect, (aw, ah) in ASPECTS.items():
        x, y, w, h = center_crop_box(333, 217, aspect)
        assert x >= 0 and y >= 0 and x + w <= 333 and y + h <= 217
        assert w % 2 == 0 and h % 2 == 0 and x % 2 == 0 and y % 2 == 0
        assert (w / h) == pytest.approx(aw / ah, rel=0.03)


def _words(start: float, end: float, step: float = 0.45) -> list[dict]:
    text = [
        "this", "is", "the", "moment", "where", "3", "short",
        "clips", "beat", "one", "long", "video", "every", "single", "time",
    ]
    out, t, i = [], start - 0.2, 0
    while t < end + 0.5:
        out.append({"start_s": round(t, 3), "end_s": round(t + 0.35, 3), "text": text[i % len(text)]})
        t += step
        i += 1
    return out


@pytest.fixture(scope="module")
def captioned(truth, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("captioned")
    out = out_dir / "job-01.mp4"
    words = _words(2.0, 9.0)
    result = render_clip(truth["path"], 2.0, 9.0, "9:16", str(out), RenderParams(180, 320),
                         str(out.with_suffix(".jpg")), words=words, caption_style="karaoke", keywords=["clips"])
    return result, words, out_dir


def test_captions_files_match_the_transcript(captioned):
    result, words, _ = captioned
    assert result.captions_reason is None
    inside = [w for w in words if 2.0 <= (w["start_s"] + w["end_s"]) / 2 < 9.0]
    for path in (result.captions_srt, result.captions_vtt):
        assert path and os.path.exists(path)
        subs = pysubs2.load(path)
        assert " ".join(e.plaintext.replace("\n", " ") for e in subs).split() == [w["text"] for w in inside]
        # Each cue starts when its first word is spoken (clip time, ms), and none leaves the clip.
        firsts = [w for w in inside if any(abs((w["start_s"] - 2.0) * 1000 - e.start) <= 1 for e in subs)]
        assert len(firsts) == len(subs)
        assert all(0 <= e.start < e.end <= round(result.duration_s * 1000) for e in subs)
    assert abs(pysubs2.load(result.captions_srt)[0].start - max(0.0, inside[0]["start_s"] - 2.0) * 1000) <= 1


def test_captioned_clip_decodes_in_sync(captioned):
    result, _, _ = captioned
    info = _decode(result.path)
    assert (info["width"], info["height"]) == (180, 320)
    assert abs(info["audio_end"] - info["video_end"]) <= 0.05
    assert abs(result.duration_s - 7.0) <= 0.04 + 1e-6


def test_captions_are_burned_in(captioned, truth, tmp_path):
    result, _, _ = captioned
    plain = render_clip(truth["path"], 2.0, 9.0, "9:16", str(tmp_path / "plain.mp4"), RenderParams(180, 320))
    assert plain.captions_reason == "no transcript" and plain.captions_srt is None

    def frame_at(path, index=75):  # 3 s in: a line is up
        with av.open(path) as c:
            for i, f in enumerate(c.decode(video=0)):
                if i == index:
                    return f.to_ndarray(format="rgb24").astype(int)

    diff = np.abs(frame_at(result.path) - frame_at(plain.path)).max(axis=2)
    rows = np.nonzero(diff.max(axis=1) > 60)[0]
    assert rows.size > 0  # the caption band differs...
    assert rows.min() > 320 * 0.5  # ...and only there (karaoke sits at 70% of the height)


def test_rerun_keeps_names_and_leaves_no_extra_files(captioned, truth):
    result, words, out_dir = captioned
    before = sorted(os.listdir(out_dir))
    assert before == ["job-01.jpg", "job-01.mp4", "job-01.srt", "job-01.vtt"]
    again = render_clip(truth["path"], 2.0, 9.0, "9:16", result.path, RenderParams(180, 320), result.thumbnail,
                        words=words, caption_style="karaoke")
    assert again.path == result.path and again.captions_srt == result.captions_srt
    assert sorted(os.listdir(out_dir)) == before
    # Re-rendered without a transcript: the old caption files go, and the result says why.
    bare = render_clip(truth["path"], 2.0, 9.0, "9:16", result.path, RenderParams(180, 320), result.thumbnail,
                       words=[])
    assert bare.captions_reason == "no transcript" and bare.captions_vtt is None
    assert sorted(os.listdir(out_dir)) == ["job-01.jpg", "job-01.mp4"]


def test_words_outside_the_clip_give_no_captions(truth, tmp_path):
    out = str(tmp_path / "w.mp4")
    result = render_clip(truth["path"], 2.0, 4.0, "1:1", out, RenderParams(96, 96), words=_words(20.0, 25.0))
    assert result.captions_srt is None and result.captions_reason == "no speech in the clip"


def test_crop_path_keyframes_lie_inside_the_source(clip_916, captioned, truth):
    src_w, src_h = truth["size"]
    for result in (clip_916[0], captioned[0]):
        assert result.layout in LAYOUTS
        keys = result.crop_path
        assert keys and keys[0]["t_s"] == 0.0
        assert [k["t_s"] for k in keys] == sorted(k["t_s"] for k in keys)
        for k in keys:
            assert 0 <= k["t_s"] <= result.duration_s
            assert k["x"] >= 0 and k["x"] + k["w"] <= src_w and k["y"] >= 0 and k["y"] + k["h"] <= src_h
            assert k["w"] / k["h"] == pytest.approx(9 / 16, rel=0.05)


def test_cut_times_split_the_path(truth, tmp_path):
    # The clip spans the cut at 5.0 s: given as a parameter, it is where the path may jump.
    result = render_clip(truth["path"], 3.0, 8.0, "9:16", str(tmp_path / "c.mp4"), RenderParams(90, 160),
                         cuts_s=[5.0, 30.6])
    assert any(abs(k["t_s"] - 2.0) < 1e-6 for k in result.crop_path)


def test_reframe_off_is_a_fixed_centre_crop(truth, tmp_path):
    params = RenderParams(90, 160, reframe=False)
    result = render_clip(truth["path"], 3.0, 8.0, "9:16", str(tmp_path / "c.mp4"), params)
    box = center_crop_box(*truth["size"], "9:16")
    assert result.layout == "still"
    assert {(k["x"], k["y"], k["w"], k["h"]) for k in result.crop_path} == {box}


def test_interlaced_source_renders_without_combs(tmp_path):
    from tests.videos import comb_score, make_interlaced_video

    v = make_interlaced_video(tmp_path / "sweep.mp4", duration_s=2.0)
    out = tmp_path / "square.mp4"
    render_clip(v["path"], 0.4, 1.6, "1:1", str(out), RenderParams(240, 240))  # a 240-px crop: no scaling
    with av.open(str(out)) as clip:
        frames = [f.to_ndarray(format="gray") for f in clip.decode(video=0)]
    assert len(frames) == 30  # 1.2 s at 25 fps: one frame out per interlaced frame in, none lost
    with av.open(v["path"]) as source:
        combed = np.median([comb_score(f.to_ndarray(format="gray")) for f in source.decode(video=0)])
    assert combed > 10.0
    assert np.median([comb_score(f) for f in frames]) < combed / 4


def _loudness(path):
    from streamapp.media.audio_master import integrated_lufs, true_peak_db

    with av.open(path) as c:
        audio = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)
        rate = c.streams.audio[0].rate
    return integrated_lufs(audio, rate), true_peak_db(audio, rate), audio


def test_clip_sound_is_mastered_to_the_target_with_faded_edges(truth, tmp_path):
    # 3-8 s of the sample: a -20 dBFS tone (about -20 LUFS) with a silence at 8 s.
    out = str(tmp_path / "loud.mp4")
    result = render_clip(truth["path"], 3.0, 7.6, "9:16", out, RenderParams(90, 160))
    lufs, peak, audio = _loudness(out)
    assert abs(lufs - (-14.0)) <= 1.0 and peak <= -1.0 + 0.2  # AAC's own overshoot: a few tenths at most
    assert abs(result.loudness["output_lufs"] - (-14.0)) <= 0.2 and result.loudness["input_lufs"] < -17.0
    # The fades: the first and last ms are far below the tone's level.
    edge = 48
    assert np.abs(audio[:, 1024:1024 + edge]).max() > 10 * np.abs(audio[:, :edge // 4]).max()
    plain = render_clip(truth["path"], 3.0, 7.6, "9:16", str(tmp_path / "asis.mp4"),
                        RenderParams(90, 160, loudness_lufs=None))
    assert abs(_loudness(plain.path)[0] - result.loudness["input_lufs"]) <= 1.0


def test_output_is_tagged_bt709_limited_range(clip_916):
    with av.open(clip_916[0].path) as c:
        cc = c.streams.video[0].codec_context
        assert (cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range) == (1, 1, 1, 1)


def test_captions_off_keeps_the_subtitle_files(truth, tmp_path):
    words = _words(2.0, 9.0)
    out = str(tmp_path / "nocap.mp4")
    bare = render_clip(truth["path"], 2.0, 9.0, "9:16", out, RenderParams(180, 320), words=words,
                       burn_captions=False)
    shown = render_clip(truth["path"], 2.0, 9.0, "9:16", str(tmp_path / "cap.mp4"), RenderParams(180, 320),
                        words=words)
    assert bare.caption_boxes == [] and shown.caption_boxes
    assert bare.captions_srt and os.path.exists(bare.captions_srt) and os.path.exists(bare.captions_vtt)
    subs = pysubs2.load(bare.captions_srt)
    assert all(len(line) <= 42 for e in subs for line in e.plaintext.split("\n"))


def test_a_clip_from_mpeg_ts_starts_where_asked_with_its_sound(tmp_path):
    # MPEG-TS has no index: a backward seek there can land on the next keyframe, and a live stream's clips
    # (rendered from its joined segments) started up to a group of pictures late, their first words cut.
    from tests.videos import make_test_video

    video = make_test_video(tmp_path / "v.mp4", duration_s=12.0, size=(320, 180), cuts_s=(), silences=(),
                            burst=None)
    ts = tmp_path / "v.ts"
    os.system(f"ffmpeg -v error -y -i {video['path']} -c:v libx264 -preset ultrafast -g 50 -sc_threshold 0 "
              f"-c:a aac -f mpegts {ts}")
    result = render_clip(str(ts), 3.3, 7.3, "9:16", str(tmp_path / "c.mp4"), RenderParams(180, 320))
    assert result.start_s == pytest.approx(3.3, abs=1 / 25) and result.duration_s == pytest.approx(4.0, abs=1 / 25)
    with av.open(str(tmp_path / "c.mp4")) as c:
        sound = np.concatenate([f.to_ndarray()[0] for f in c.decode(audio=0)])
    rate = 48000
    # The tone is there from the first 50 ms on (after the 20 ms fade in), not silence until a later keyframe.
    assert np.sqrt(np.mean(sound[int(0.03 * rate):int(0.1 * rate)] ** 2)) > 0.01


def _swf(path, seconds: int = 8, fps: int = 24):
    """A SWF (FLV1 video, no index): FFmpeg cannot seek it by time; each frame's grey level is its number x 5."""
    with av.open(str(path), "w", format="swf") as out:
        stream = out.add_stream("flv", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 128, 72, "yuv420p"
        for i in range(seconds * fps):
            frame = av.VideoFrame.from_ndarray(np.full((72, 128, 3), (i * 5) % 250, np.uint8), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return str(path)


def test_a_file_that_cannot_seek_renders_from_its_start(tmp_path):
    """FFmpeg reads on while it looks for a time it cannot seek to, and gave up near the end: the clip found no
    frames in its range (clip_empty on the iscc session as SWF). Now the file goes back to its first byte."""
    source = _swf(tmp_path / "s.swf")
    out = str(tmp_path / "c.mp4")
    render_clip(source, 3.0, 5.0, "9:16", out, RenderParams(90, 160))
    info = _decode(out)
    assert info["n"] == 48
    # the first frame is the source's frame at 3 s (72 x 5 = 360 -> grey 110), not a later one
    assert abs(float(info["first"].mean()) - (72 * 5) % 250) < 6


def test_a_letterboxed_source_is_framed_without_its_bars(tmp_path):
    """A 2:1 picture inside black bars of a 4:3 frame (60 px above and below): the 9:16 crop frames the
    picture, not the bars, which the crop of the whole frame kept as black strips top and bottom."""
    path = str(tmp_path / "letterbox.mp4")
    rng = np.random.default_rng(3)
    with av.open(path, "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"preset": "veryfast", "crf": "18"})
        stream.width, stream.height, stream.pix_fmt = 480, 360, "yuv420p"
        for i in range(75):
            img = np.zeros((360, 480, 3), np.uint8)
            img[60:300] = np.clip(rng.normal(150, 40, (240, 480, 3)), 60, 255).astype(np.uint8)  # the picture
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    clip = str(tmp_path / "c.mp4")
    result = render_clip(path, 0.5, 2.5, "9:16", clip, RenderParams(90, 160))
    grey = cv2.cvtColor(_decode(clip)["first"], cv2.COLOR_RGB2GRAY).astype(float)
    assert grey[:8].mean() > 60 and grey[-8:].mean() > 60, (grey[:8].mean(), grey[-8:].mean())
    # the crop path is given in the source frame's pixels: inside the picture's rows
    assert all(k["y"] >= 60 and k["y"] + k["h"] <= 300 for k in result.crop_path), result.crop_path
