"""Whisper models from wheels: the multilingual base joined from two parts, language detection, and a stretch in
another language inside a video."""

from __future__ import annotations

import hashlib
import wave
from dataclasses import dataclass, replace

import numpy as np
import pytest

from streamapp.analysis import asr_models
from streamapp.analysis.asr_models import AsrModelError, join_parts, model_dir
from streamapp.analysis.transcript import OTHER_LANGUAGE_GROUP_S, AsrParams, _groups, transcribe_speech
from tests.talks import TALK_RATE, espeak_sentence


def test_join_parts_checks_size_and_hash(tmp_path):
    parts = [tmp_path / "a", tmp_path / "b"]
    parts[0].write_bytes(b"x" * 1000)
    parts[1].write_bytes(b"y" * 500)
    digest = hashlib.sha256(b"x" * 1000 + b"y" * 500).hexdigest()
    join_parts(parts, tmp_path / "out" / "model.bin", digest, 1500)
    assert (tmp_path / "out" / "model.bin").read_bytes() == b"x" * 1000 + b"y" * 500

    parts[1].write_bytes(b"z" * 500)  # a damaged part: same size, other bytes
    with pytest.raises(AsrModelError) as err:
        join_parts(parts, tmp_path / "bad" / "model.bin", digest, 1500)
    assert err.value.code == "asr_model_missing" and "\n" not in err.value.message
    assert not any((tmp_path / "bad").iterdir())  # no half file, no damaged model left behind


def test_base_is_joined_once_into_the_cache(tmp_path):
    folder = model_dir("base", cache=tmp_path)
    model = folder / "model.bin"
    assert folder.is_relative_to(tmp_path)
    assert model.stat().st_size == asr_models.BASE_SIZE
    assert {p.name for p in folder.iterdir()} == {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"}
    first = model.stat().st_mtime_ns
    assert model_dir("base", cache=tmp_path) == folder
    assert model.stat().st_mtime_ns == first  # reused, not joined again


def test_unknown_model_name_is_one_line():
    with pytest.raises(AsrModelError) as err:
        model_dir("large-v9")
    assert "tiny.en" in err.value.message and "base" in err.value.message


def _speech(tmp_path, name: str, text: str, voice: str) -> str:
    x = espeak_sentence(text, voice=voice)
    lead = np.zeros(TALK_RATE // 2, np.float32)
    path = tmp_path / f"{name}.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(TALK_RATE)
        w.writeframes((np.clip(np.concatenate([lead, x, lead]), -1, 1) * 32767).astype(np.int16).tobytes())
    return str(path)


@pytest.fixture(scope="module")
def auto_params() -> AsrParams:
    """What asr_model auto with asr_language auto gives: detect with base, English with tiny.en."""
    return AsrParams(model_dir=str(model_dir("base")), language=None,
                     english_model_dir=str(model_dir("tiny.en")), threads=2)


@pytest.mark.parametrize(("voice", "language", "text", "expected"), [
    ("es", "es", "Hola a todos. Hoy vamos a hablar de la comida española y de la música.",
     {"hola", "todos", "hoy", "vamos", "hablar", "comida", "música"}),
    ("de", "de", "Guten Tag zusammen. Heute sprechen wir über das Wetter und die Berge in Deutschland.",
     {"guten", "tag", "zusammen", "heute", "sprechen", "wir", "über", "das"}),
    ("en-us", "en", "Hello everyone, welcome to the show. Today we talk about the river near my house.",
     {"hello", "everyone", "welcome", "show", "today", "talk", "river", "house"}),
])
def test_language_is_detected_and_transcribed_in_it(tmp_path, auto_params, voice, language, text, expected):
    transcript = transcribe_speech(_speech(tmp_path, voice, text, voice), auto_params)
    assert transcript.language == language
    said = {w["text"].lower().strip(".,!?¡¿") for w in transcript.words}
    assert len(said & expected) >= len(expected) // 2, said  # a synthetic voice: half its content words


def test_no_speech_means_no_language_and_no_words(tmp_path, auto_params):
    rate = TALK_RATE
    t = np.arange(10 * rate) / rate
    chords = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) * (1 + 0.5 * np.sin(2 * np.pi * 2 * t))
    path = tmp_path / "music.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((chords * 32767 * 0.8).astype(np.int16).tobytes())
    transcript = transcribe_speech(str(path), auto_params)
    assert transcript.words == [] and transcript.language == ""


SPANISH = "Hola a todos. Hoy vamos a hablar de la comida española y de la música de nuestro país."
SPANISH_WORDS = {"hola", "todos", "hoy", "vamos", "hablar", "comida", "española", "música", "nuestro", "país"}


def _english_talk_with_spanish(tmp_path) -> tuple[str, tuple[float, float]]:
    """Two English sentences (the language detected at the start), a Spanish one, an English one; the path and
    the Spanish sentence's span."""
    gap = np.zeros(TALK_RATE // 2, np.float32)
    english = [espeak_sentence("Welcome back to the show, today we talk about rivers and the mountains they come "
                               "from."),
               espeak_sentence("Most of them start high up in the mountains, where rain and snow feed them all "
                               "year long.")]
    spanish = espeak_sentence(SPANISH, voice="es", speed=150)
    parts = [gap, english[0], gap, english[1], gap, spanish, gap, espeak_sentence("Thanks for listening, and see "
                                                                                   "you next week."), gap]
    start = sum(p.size for p in parts[:5]) / TALK_RATE
    path = tmp_path / "mixed.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(TALK_RATE)
        w.writeframes((np.clip(np.concatenate(parts), -1, 1) * 32767).astype(np.int16).tobytes())
    return str(path), (start, start + spanish.size / TALK_RATE)


@pytest.mark.parametrize("live_piece", [False, True])
def test_a_stretch_in_another_language_is_transcribed_in_it(tmp_path, auto_params, live_piece, caplog):
    """tiny.en, bound to the talk's English, writes made-up English over the Spanish sentence ("All of them are
    still alive. We can then waste our pies."); its doubted words are checked and heard again in Spanish. The
    same for a live stream's later piece, whose language was detected on its first."""
    path, (start, end) = _english_talk_with_spanish(tmp_path)
    params = replace(auto_params, language="en", language_detected=True) if live_piece else auto_params
    with caplog.at_level("INFO", logger="streamapp.analysis.transcript"):
        transcript = transcribe_speech(path, params)
    assert transcript.language == "en"
    assert [r for r in caplog.records if "is es" in r.getMessage() and "transcribed in it" in r.getMessage()]
    inside = {w["text"].lower().strip(".,!?¡¿") for w in transcript.words if start - 0.5 <= w["start_s"] < end}
    assert len(inside & SPANISH_WORDS) >= 4, inside
    before = {w["text"].lower().strip(".,!?") for w in transcript.words if w["end_s"] <= start}
    after = {w["text"].lower().strip(".,!?") for w in transcript.words if w["start_s"] >= end}
    assert {"welcome", "show", "rivers", "mountains"} <= before and {"thanks", "listening", "week"} & after


def test_a_language_the_user_set_is_kept(tmp_path, auto_params, caplog):
    """asr_language en with the multilingual model: the Spanish sentence is not checked (base, held to English,
    writes some Spanish-looking words of its own, so the check's log line is what tells)."""
    path, _span = _english_talk_with_spanish(tmp_path)
    with caplog.at_level("INFO", logger="streamapp.analysis.transcript"):
        transcript = transcribe_speech(path, replace(auto_params, language="en", english_model_dir=None))
    assert transcript.language == "en" and transcript.words
    assert not [r for r in caplog.records if "transcribed in it" in r.getMessage()]


@dataclass
class _Segment:
    start: float
    end: float


def test_doubted_segments_are_checked_in_groups_long_enough_to_detect():
    g = OTHER_LANGUAGE_GROUP_S
    run = [_Segment(0.0, 1.0), _Segment(1.0, g + 0.5), _Segment(g + 0.5, 2 * g + 1), _Segment(2 * g + 1, 2 * g + 2)]
    assert [[(s.start, s.end) for s in group] for group in _groups(run)] == [
        [(0.0, 1.0), (1.0, g + 0.5)], [(g + 0.5, 2 * g + 1), (2 * g + 1, 2 * g + 2)]]  # a short rest joins the last
    assert [len(group) for group in _groups(run[:1])] == [1]
    assert _groups([]) == []
