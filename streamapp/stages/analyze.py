"""One-call analysis of a video (no broker, no rendering): what ``streamapp analyze`` prints."""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

from streamapp.analysis.asr_models import AsrModelError, is_multilingual, model_dir
from streamapp.analysis.transcript import AsrParams, split_sentences
from streamapp.settings import Settings
from streamapp.stages.extract import AnalysisParams, Signals, extract
from streamapp.stages.score import ClipOptions, score

log = logging.getLogger(__name__)


def analysis_params(settings: Settings) -> AnalysisParams:
    """The extract knobs that settings control."""
    return AnalysisParams(
        analysis_height=settings.analysis_height,
        audio_rate=settings.audio_rate,
        hop_s=settings.hop_s,
        silence_db=settings.silence_db,
        sentence_embeddings=settings.embeddings_enabled,
    )


def asr_params(settings: Settings, use_asr: bool = True) -> AsrParams | None:
    """Speech-recognition parameters, or None when ASR is off or no local model is installed.

    ``asr_model`` auto: a set English language goes to tiny.en; any other language, or "auto" (detect),
    to the multilingual base, with tiny.en kept for speech detected as English (about 3x faster).
    """
    if not use_asr or not settings.asr_enabled:
        return None
    language = None if settings.asr_language in ("", "auto") else settings.asr_language
    common = {"compute_type": settings.asr_compute_type, "threads": settings.asr_threads,
              "vad_filter": settings.asr_vad}
    if settings.asr_model_dir:
        if not (Path(settings.asr_model_dir) / "model.bin").is_file():
            return None
        return AsrParams(model_dir=str(settings.asr_model_dir), language=language, **common)
    name = settings.asr_model
    if name == "auto":
        name = "tiny.en" if language == "en" else "base"
    try:
        if not is_multilingual(name):
            return AsrParams(model_dir=str(model_dir(name)), language="en", **common)
        english = None
        if language is None and settings.asr_model == "auto":
            with contextlib.suppress(AsrModelError):
                english = str(model_dir("tiny.en"))
        return AsrParams(model_dir=str(model_dir(name)), language=language, english_model_dir=english, **common)
    except AsrModelError as exc:
        log.warning("speech recognition off: %s", exc.message)
        return None


def clip_options(settings: Settings, options: dict | None) -> ClipOptions:
    """Job options over the settings' clip defaults."""
    base = {"max_clips": settings.max_clips, "min_duration_s": settings.min_duration_s,
            "max_duration_s": settings.max_duration_s}
    base.update({k: v for k, v in (options or {}).items() if v is not None})
    return ClipOptions.from_dict(base)


def _spans(spans: list[tuple[float, float]]) -> list[dict]:
    return [{"start_s": round(float(a), 3), "end_s": round(float(b), 3)} for a, b in spans]


def _topic_spans(signals: Signals) -> list[tuple[float, float]]:
    """The transcript's topics as spans: from one boundary to the next, over the spoken part."""
    if not signals.words:
        return []
    edges = [float(signals.words[0]["start_s"]), *signals.topics_s, float(signals.words[-1]["end_s"])]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def report(signals: Signals, candidates: list, timings: dict[str, float]) -> dict:
    """The JSON-ready analysis report."""
    edges = [0.0, *signals.cuts_s, float(signals.duration_s)]
    shots = [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]
    return {
        "duration_s": round(float(signals.duration_s), 3),
        "fps": round(float(signals.fps), 3),
        "shots": _spans(shots),
        "cuts_s": [round(float(c), 3) for c in signals.cuts_s],
        "gradual_s": [round(float(c), 3) for c in signals.gradual_s],
        "silences": _spans(signals.silences),
        "bursts": _spans(signals.bursts),
        "black": _spans(signals.black),
        "frozen": _spans(signals.frozen),
        "topics_s": [round(float(t), 3) for t in signals.topics_s],
        "topics": _spans(_topic_spans(signals)),
        "language": signals.language or None,
        "sentences": [{"start_s": round(s["start_s"], 3), "end_s": round(s["end_s"], 3), "text": s["text"]}
                      for s in split_sentences(signals.words)],
        "words": [{"start_s": w["start_s"], "end_s": w["end_s"], "text": w["text"]} for w in signals.words],
        "candidates": [c.to_dict() for c in candidates],
        "timings_s": {k: round(float(v), 3) for k, v in timings.items()},
    }


def analyze_video(path: str, settings: Settings, *, use_asr: bool = True, options: dict | None = None) -> dict:
    """Extract and score one video; returns shots, cuts, silences, words, scored candidates and timings."""
    t0 = time.perf_counter()
    signals = extract(path, analysis_params(settings), asr=asr_params(settings, use_asr))
    timings = dict(signals.timings_s)
    timings["extract"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    candidates = score(signals, clip_options(settings, options), settings.score_weights)
    timings["score"] = time.perf_counter() - t1
    timings["total"] = time.perf_counter() - t0
    return report(signals, candidates, timings)
