"""One-call analysis of a video (no broker, no rendering): what ``streamapp analyze`` prints."""

from __future__ import annotations

import time
from pathlib import Path

from streamapp.analysis.transcript import AsrParams, default_model_dir
from streamapp.settings import Settings
from streamapp.stages.extract import AnalysisParams, Signals, extract
from streamapp.stages.score import ClipOptions, score


def analysis_params(settings: Settings) -> AnalysisParams:
    """The extract knobs that settings control."""
    return AnalysisParams(
        analysis_height=settings.analysis_height,
        audio_rate=settings.audio_rate,
        hop_s=settings.hop_s,
        silence_db=settings.silence_db,
    )


def asr_params(settings: Settings, use_asr: bool = True) -> AsrParams | None:
    """Speech-recognition parameters, or None when ASR is off or no local model is installed."""
    if not use_asr or not settings.asr_enabled:
        return None
    model_dir = str(settings.asr_model_dir) if settings.asr_model_dir else default_model_dir()
    if not model_dir or not (Path(model_dir) / "model.bin").is_file():
        return None
    return AsrParams(
        model_dir=model_dir,
        language=settings.asr_language or None,
        compute_type=settings.asr_compute_type,
        threads=settings.asr_threads,
        vad_filter=settings.asr_vad,
    )


def clip_options(settings: Settings, options: dict | None) -> ClipOptions:
    """Job options over the settings' clip defaults."""
    base = {"max_clips": settings.max_clips, "min_duration_s": settings.min_duration_s,
            "max_duration_s": settings.max_duration_s}
    base.update({k: v for k, v in (options or {}).items() if v is not None})
    return ClipOptions.from_dict(base)


def _spans(spans: list[tuple[float, float]]) -> list[dict]:
    return [{"start_s": round(float(a), 3), "end_s": round(float(b), 3)} for a, b in spans]


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
