"""SRT and WebVTT files of subtitle cues: two-line cues, times and text survive a round trip."""

from pathlib import Path

import pysubs2

from streamapp.captions import clip_words
from streamapp.captions.files import write_caption_files
from streamapp.captions.subtitles import Cue, subtitle_cues

CUES = [
    Cue(0.25, 2.5, ("Hello there, how are you", "doing on this fine day?")),
    Cue(2.5, 4.0, ("Fine.",)),
    Cue(4.2, 7.0, ("A backslash \\N is not a break", "and <b>tags</b> & {braces} are text")),
]


def write(tmp_path, cues=CUES):
    return write_caption_files(cues, str(tmp_path / "c.srt"), str(tmp_path / "c.vtt"))


def test_two_line_cues_round_trip_through_srt_and_vtt(tmp_path):
    srt, vtt = write(tmp_path)
    for path in (srt, vtt):
        subs = pysubs2.load(path)
        assert [(e.start, e.end) for e in subs] == [(250, 2500), (2500, 4000), (4200, 7000)]
        # pysubs2 reads a line break in SRT/VTT back as SubStation's "\N": exactly one per two-line cue.
        lines = [e.text.split("\\N") for e in subs]
        assert [len(x) for x in lines] == [2, 1, 2]
        assert lines[0] == list(CUES[0].lines) and lines[1] == ["Fine."]
        assert lines[2][0].startswith("A backslash") and lines[2][0].endswith("is not a break")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.srt", "c.vtt"]  # no .part left


def test_files_hold_the_lines_as_written(tmp_path):
    srt, vtt = write(tmp_path)
    srt_text, vtt_text = (Path(p).read_text(encoding="utf-8") for p in (srt, vtt))
    assert "00:00:00,250 --> 00:00:02,500\nHello there, how are you\ndoing on this fine day?\n" in srt_text
    assert vtt_text.startswith("WEBVTT")
    assert "00:00:00.250 --> 00:00:02.500\nHello there, how are you\ndoing on this fine day?\n" in vtt_text
    for text in (srt_text, vtt_text):
        assert "\\N" not in text and "\\n" not in text  # no SubStation escape leaks into the file
        assert "{braces}" in text  # speech is not styling: nothing dropped
    assert "and <b>tags</b> & {braces} are text" in srt_text
    assert "and &lt;b&gt;tags&lt;/b&gt; &amp; {braces} are text" in vtt_text  # VTT markup escaped


def test_subtitle_cues_from_clip_words_round_trip(tmp_path):
    text = "this clip has enough words to need two lines in at least one of its cues. And then it ends."
    src = [{"start_s": 3.0 + i * 0.3, "end_s": 3.25 + i * 0.3, "text": t} for i, t in enumerate(text.split())]
    words = clip_words(src, 2.0, 12.0)
    cues = subtitle_cues(words, 10.0)
    assert any(len(c.lines) == 2 for c in cues)
    srt, vtt = write(tmp_path, cues)
    for path in (srt, vtt):
        subs = pysubs2.load(path)
        assert len(subs) == len(cues)
        assert [e.text.split("\\N") for e in subs] == [list(c.lines) for c in cues]
        assert " ".join(e.plaintext.replace("\n", " ") for e in subs).split() == [w.text for w in words]
        assert [(e.start, e.end) for e in subs] == [(round(c.start * 1000), round(c.end * 1000)) for c in cues]
        assert all(0 <= e.start < e.end <= 10000 for e in subs)


def test_cjk_cue_round_trip(tmp_path):
    cues = [Cue(0.0, 3.0, ("今日はとても良い天気ですね。", "公園に行きましょう。"))]
    for path in write(tmp_path, cues):
        assert [e.text for e in pysubs2.load(path)] == ["今日はとても良い天気ですね。\\N公園に行きましょう。"]
