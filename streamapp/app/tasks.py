"""Functions run inside the process pool: each calls a stage's pure core and returns plain dicts.

They take and return only picklable, JSON-ready values so the Faust side stays thin.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import orjson

from streamapp.analysis import embeddings, transcript
from streamapp.analysis.transcript import AsrParams
from streamapp.app.job_files import StopCheck
from streamapp.app.live import concatenate
from streamapp.app.pool import report_progress
from streamapp.errors import InputError, MediaError
from streamapp.export.render import RenderParams, output_size, render_clip
from streamapp.media.probe import SourceInfo, probe
from streamapp.processes import give_back_memory
from streamapp.stages.export import clip_inputs
from streamapp.stages.extract import AnalysisParams, Signals, extract
from streamapp.stages.live import LiveOptions, LiveSelector, SelectorState, SignalStitcher
from streamapp.stages.score import ClipOptions, score


def plain(value: Any) -> Any:
    """JSON-ready builtins only: numpy scalars and arrays from the cores become floats and lists."""
    return orjson.loads(orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY))


def probe_task(path: str) -> dict[str, Any]:
    return plain(dataclasses.asdict(probe(path)))


def extract_task(job_id: str, path: str, params: dict[str, Any], asr: dict[str, Any] | None,
                 signals_path: str, stop_mark: str | None = None,
                 source: dict[str, Any] | None = None) -> dict[str, Any]:
    """Extract's signals, written to ``signals_path``; ``source``: probe_task's answer for ``path`` (a probe
    hashes the whole file: once a job is enough)."""
    started = time.perf_counter()
    stop = StopCheck(stop_mark)

    def on_progress(fraction: float) -> None:
        stop()  # a cancelled job stops here, mid-extract, rather than decode to the end
        report_progress(job_id, "extract", fraction)

    signals = extract(path, AnalysisParams(**params), on_progress=on_progress, asr=AsrParams(**asr) if asr else None,
                      info=SourceInfo(**source) if source else None)
    Path(signals_path).parent.mkdir(parents=True, exist_ok=True)
    signals.save(signals_path)
    # Counts only: the lists live in signals.npz, and an event must stay small however long the video.
    summary = {k: (len(v) if isinstance(v, list) else v) for k, v in signals.to_summary().items()}
    summary["frames_per_second"] = len(signals.frame_times_s) / max(time.perf_counter() - started, 1e-6)
    del signals
    give_back_memory()  # a pool process lives on between jobs: it should not sit on this job's peak
    return plain(summary)


def score_task(signals_path: str, options: dict[str, Any], weights: dict[str, float]) -> list[dict[str, Any]]:
    signals = Signals.load(signals_path)
    return plain([c.to_dict() for c in score(signals, ClipOptions.from_dict(options), weights)])


def render_task(job_id: str, index: int, total: int, source: str, start_s: float, end_s: float,
                words: list[dict[str, Any]] | None, cuts: list[float], options: dict[str, Any], out_path: str,
                render: dict[str, Any], speech_db: list[float] | None = None, hop_s: float = 0.05,
                stop_mark: str | None = None) -> dict[str, Any]:
    """Render one clip with the words (None: no transcript), shot cuts and loudness (per hop) inside it."""
    StopCheck(stop_mark)()  # the clips of a cancelled job that have not started never start
    drop_analysis_models()
    width, height = output_size(options["aspect"], render["long_side"])
    params = RenderParams(width=width, height=height, crf=render["crf"], preset=render["preset"],
                          audio_bitrate=render["audio_bitrate"], reframe=render["reframe"],
                          threads=render["threads"], loudness_lufs=render["loudness_lufs"],
                          true_peak_db=render["true_peak_db"], layout=render.get("layout", "auto"))
    captions = options.get("captions", True)
    clip = render_clip(
        source, start_s, end_s, options["aspect"], out_path, params,
        thumbnail_path=str(Path(out_path).with_suffix(".jpg")),
        words=words,
        caption_style=options.get("caption_style", render["caption_style"]),
        cuts_s=cuts, keywords=options.get("keywords", ()),
        burn_captions=captions, speech_db=speech_db, hop_s=hop_s,
    )
    report_progress(job_id, "export", (index + 1) / total)
    give_back_memory()
    result = dataclasses.asdict(clip)
    if not captions:
        # Only the burned-in captions are off: the subtitle files beside the clip stay.
        result["captions_burned"] = False
    return plain(result)


def drop_analysis_models() -> None:
    """Unload Whisper and the sentence encoders from this pool process before it renders: a render needs none
    of them, and two renders beside an extract's models took a 2-hour job's worker past its memory target
    (bench/memory.py). A process that extracts again loads them in about a second."""
    transcript.release_models()
    embeddings.release()
    give_back_memory()


def warm() -> bool:
    """Run once per pool process at start so the first job doesn't pay for imports and JIT."""
    from streamapp.kernels import frame_diff  # noqa: F401  (compiles or loads numba's cache)

    return True


PROMPT_WORDS = 40  # of the stream's transcript, given to Whisper before each live piece


@dataclasses.dataclass(frozen=True)
class LivePiece:
    """One piece of a live stream to analyse (app/live.py's Piece), with what analysing it needs."""

    job_id: str
    folder: str  # the job's live folder: stream.npz, init.mp4
    files: list[str]  # its segments, lead-in first
    offset_s: float  # the stream time of its first segment
    owned_to_s: float | None  # it adds the stream up to here (None: to its end)
    end_s: float  # the stream time of its end
    final: bool  # nothing comes after it
    params: dict[str, Any]
    asr: dict[str, Any] | None
    clip_options: dict[str, Any]
    live_options: dict[str, Any]
    weights: dict[str, float]
    selector: dict[str, Any] | None  # the selector's saved state (None: the stream's first piece)
    stop_mark: str | None = None


def live_piece_task(work: LivePiece) -> dict[str, Any]:
    """Analyse one piece of a live stream, add it to the stream's signals (``folder``/stream.npz) and choose the
    clips that are final now. A piece that does not decode is skipped (a warning, not a failure): the stream's
    signals go on past it with nothing seen there. Returns the selector's new state, the chosen clips with
    their render inputs, and what the stream is (size, rate, sound; empty for a piece that did not decode)."""
    stop = StopCheck(work.stop_mark)
    stop()
    started = time.perf_counter()
    live_dir = Path(work.folder)
    stream_path = live_dir / "stream.npz"
    analysis = AnalysisParams(**work.params)
    stitcher = SignalStitcher.resumed(Signals.load(stream_path), analysis) if stream_path.exists() \
        else SignalStitcher(analysis)
    asr = work.asr
    if asr and asr.get("language") is None and stitcher.language:
        # detected once, on the first piece with speech: later pieces go on in it as if they had detected it
        asr = {**asr, "language": stitcher.language, "language_detected": True}
    if asr:  # the ASR context: what was said before the piece (its lead-in is heard again, so not that)
        before = [w["text"] for w in stitcher.words if w["start_s"] < work.offset_s][-PROMPT_WORDS:]
        asr = {**asr, "initial_prompt": " ".join(before) or None}
    piece_path = concatenate(work.files, live_dir / "piece.ts", live_dir / "init.mp4")
    warning = None
    info: dict[str, Any] = {}
    try:
        source = probe(str(piece_path), hash_file=False)
        piece = extract(str(piece_path), analysis, on_progress=lambda _: stop(), asr=AsrParams(**asr) if asr else None,
                        info=source)
        info = {"width": source.width, "height": source.height, "fps": source.fps, "has_audio": source.has_audio}
        stitcher.add(piece, work.offset_s, work.owned_to_s)
    except (InputError, MediaError) as exc:
        warning = {"code": exc.code, "message": exc.message}
        stitcher.skip(work.owned_to_s if work.owned_to_s is not None else work.end_s)
    finally:
        piece_path.unlink(missing_ok=True)
    signals = stitcher.signals()
    signals.save(stream_path)
    analysed = time.perf_counter()
    chooser = LiveSelector(ClipOptions.from_dict(work.clip_options), LiveOptions(**work.live_options), work.weights,
                           SelectorState.from_dict(work.selector) if work.selector else None)
    chosen = chooser.decide(signals, work.final)
    clips = [{**c.to_dict(), "inputs": dataclasses.asdict(clip_inputs(signals, c.start_s, c.end_s))} for c in chosen]
    give_back_memory()
    return plain({"selector": chooser.state.to_dict(), "clips": clips, "warning": warning, "info": info,
                  "language": signals.language,
                  "timings_s": {"extract": analysed - started, "score": time.perf_counter() - analysed}})

