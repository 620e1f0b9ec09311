"""Pure core of the extract stage: one streaming pass over video and one over audio -> Signals."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from streamapp.analysis.audio_events import band_ratio, bursts, speech_activity, speech_from_words
from streamapp.analysis.picture import PictureAnalyzer
from streamapp.analysis.topics import topic_boundaries
from streamapp.analysis.transcript import AsrParams, sentence_starts, split_sentences, transcribe_speech
from streamapp.errors import MediaError
from streamapp.fileio import temp_path_for
from streamapp.kernels.frame_diff import DEFAULT_MIN_DIFF, DEFAULT_RATIO
from streamapp.kernels.loudness import KWeightedMeter, hop_samples, momentary_lufs, rms_envelope_db, silences
from streamapp.media.decode import (
    coarse_worthwhile,
    iter_audio_blocks,
    iter_video_frames,
    keyframe_starts,
    usable_cores,
)
from streamapp.media.probe import SourceInfo, probe

log = logging.getLogger(__name__)

_PROGRESS_STEPS = 20
_VIDEO_SHARE = 0.85  # rough share of extract time spent on video, for progress reporting
_TRUNCATED_SLACK_S = 1.0


@dataclass(frozen=True)
class AnalysisParams:
    """Knobs of the analysis; defaults suit 64-px luma and 16 kHz mono."""

    analysis_height: int = 64
    audio_rate: int = 16000
    hop_s: float = 0.05
    cut_min_diff: float = DEFAULT_MIN_DIFF
    cut_ratio: float = DEFAULT_RATIO
    min_shot_s: float = 0.5
    silence_db: float = -40.0
    min_silence_s: float = 0.4
    faces: bool = True  # Haar face detection on sampled frames
    face_height: int = 180  # grey picture height for face detection (Haar: ~2.5 ms a call at 180 px)
    face_every_s: float = 1.0  # 1 sample a second: faces stay on screen for seconds; keeps the cost ~5 %
    fast_decode: bool = True  # skip the decoder's deblocking filter (invisible at 64 px, ~20 % faster)
    parallel_decode: bool = True  # decode pieces of the file side by side, one per core
    # Reference frames first, every frame only where the picture changes (media/coarse.py): about half the
    # decode on talks; the same cuts on their exact frames.
    coarse_decode: bool = True
    sentence_embeddings: bool = True  # meaning-based topics and steering (analysis/embeddings.py)


def _empty_f32() -> np.ndarray:
    return np.zeros(0, dtype=np.float32)


def _empty_u8() -> np.ndarray:
    return np.zeros(0, dtype=np.uint8)


_SPANS = ("silences", "bursts", "black", "frozen")

# Part of the cache key of a video's signals: raise it whenever extract's output for the same input and
# settings changes, so that cached signals of an older streamapp are not reused (2: elisions joined;
# 3: sentence vectors of e5 and MiniLM side by side; 4: coarse-to-fine decode, motion between decoded frames;
# 5: stretches in another language transcribed in it, a last word without length kept in its sentence).
SIGNALS_VERSION = 5


@dataclass
class Signals:
    """Everything scoring needs, on media time (seconds from the first video frame)."""

    duration_s: float
    fps: float
    frame_times_s: np.ndarray  # float64, one per analysed frame
    motion: np.ndarray  # float32, mean abs luma diff to the previous frame; first is 0
    cuts_s: list[float]
    hop_s: float
    loudness_db: np.ndarray  # float32 dBFS per hop (hop k starts at k * hop_s); empty without audio
    has_audio: bool
    silences: list[tuple[float, float]]
    timings_s: dict[str, float] = field(default_factory=dict)
    truncated: bool = False  # decoded media ends well before the duration the container claims
    # Added by the richer analysis; defaults keep older .npz files and callers working.
    lufs: np.ndarray = field(default_factory=_empty_f32)  # momentary K-weighted loudness per hop (LUFS)
    speech: np.ndarray = field(default_factory=_empty_u8)  # 1 where someone speaks, per hop
    bursts: list[tuple[float, float]] = field(default_factory=list)  # sudden loud events
    words: list[dict] = field(default_factory=list)  # {start_s, end_s, text, prob}
    topics_s: list[float] = field(default_factory=list)  # topic boundaries in the transcript
    gradual_s: list[float] = field(default_factory=list)  # the cuts that are dissolves or fades (middle)
    black: list[tuple[float, float]] = field(default_factory=list)
    frozen: list[tuple[float, float]] = field(default_factory=list)
    face_times_s: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    faces: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16))  # faces per sample
    face_area: np.ndarray = field(default_factory=_empty_f32)  # largest face / frame area per sample
    language: str = ""  # of the speech (ISO 639-1), "" without a transcript
    # One unit vector per sentence of ``words`` (transcript.split_sentences), float16; empty without them.
    sentence_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float16))

    def save(self, path: str | Path) -> None:
        """Write an .npz atomically (temp file, then rename)."""
        path = str(path)
        meta = {
            "duration_s": self.duration_s,
            "fps": self.fps,
            "cuts_s": list(self.cuts_s),
            "hop_s": self.hop_s,
            "has_audio": self.has_audio,
            "silences": [list(s) for s in self.silences],
            "timings_s": dict(self.timings_s),
            "truncated": self.truncated,
            "bursts": [list(b) for b in self.bursts],
            "topics_s": list(self.topics_s),
            "gradual_s": list(self.gradual_s),
            "black": [list(b) for b in self.black],
            "frozen": [list(b) for b in self.frozen],
            "language": self.language,
        }
        tmp = temp_path_for(path)
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                frame_times_s=np.asarray(self.frame_times_s, dtype=np.float64),
                motion=np.asarray(self.motion, dtype=np.float32),
                loudness_db=np.asarray(self.loudness_db, dtype=np.float32),
                lufs=np.asarray(self.lufs, dtype=np.float32),
                speech=np.asarray(self.speech, dtype=np.uint8),
                face_times_s=np.asarray(self.face_times_s, dtype=np.float64),
                faces=np.asarray(self.faces, dtype=np.int16),
                face_area=np.asarray(self.face_area, dtype=np.float32),
                sentence_vectors=np.asarray(self.sentence_vectors, dtype=np.float16),
                # One JSON string per word: no pickles in the npz, and it stays readable.
                words=np.array([json.dumps(w) for w in self.words], dtype=np.str_),
                meta=np.array(json.dumps(meta)),
            )
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> Signals:
        """Read what ``save`` wrote."""
        with np.load(str(path), allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))

            def arr(name: str, dtype: type) -> np.ndarray:
                return data[name].astype(dtype) if name in data.files else np.zeros(0, dtype=dtype)

            def spans(name: str) -> list[tuple[float, float]]:
                return [(float(a), float(b)) for a, b in meta.get(name, [])]

            words = [json.loads(str(w)) for w in data["words"]] if "words" in data.files else []
            return cls(
                duration_s=float(meta["duration_s"]),
                fps=float(meta["fps"]),
                frame_times_s=data["frame_times_s"].astype(np.float64),
                motion=data["motion"].astype(np.float32),
                cuts_s=[float(c) for c in meta["cuts_s"]],
                hop_s=float(meta["hop_s"]),
                loudness_db=data["loudness_db"].astype(np.float32),
                has_audio=bool(meta["has_audio"]),
                silences=[(float(a), float(b)) for a, b in meta["silences"]],
                timings_s={k: float(v) for k, v in meta["timings_s"].items()},
                truncated=bool(meta.get("truncated", False)),
                lufs=arr("lufs", np.float32),
                speech=arr("speech", np.uint8),
                bursts=spans("bursts"),
                words=words,
                topics_s=[float(t) for t in meta.get("topics_s", [])],
                gradual_s=[float(t) for t in meta.get("gradual_s", [])],
                black=spans("black"),
                frozen=spans("frozen"),
                face_times_s=arr("face_times_s", np.float64),
                faces=arr("faces", np.int16),
                face_area=arr("face_area", np.float32),
                language=str(meta.get("language", "")),
                sentence_vectors=(data["sentence_vectors"].astype(np.float16) if "sentence_vectors" in data.files
                                  else np.zeros((0, 0), dtype=np.float16)),
            )

    def to_summary(self) -> dict:
        """A small JSON-safe description (no per-frame arrays)."""
        return {
            "duration_s": round(float(self.duration_s), 3),
            "fps": round(float(self.fps), 3),
            "frames": int(len(self.frame_times_s)),
            "has_audio": bool(self.has_audio),
            "cuts_s": [round(float(c), 3) for c in self.cuts_s],
            "silences": [
                {"start_s": round(float(a), 3), "end_s": round(float(b), 3)} for a, b in self.silences
            ],
            "truncated": bool(self.truncated),
            "words": len(self.words),
            "topics_s": [round(float(t), 3) for t in self.topics_s],
            "bursts": [{"start_s": round(float(a), 3), "end_s": round(float(b), 3)} for a, b in self.bursts],
            "black": [{"start_s": round(float(a), 3), "end_s": round(float(b), 3)} for a, b in self.black],
            "face_share": round(float((self.faces > 0).mean()), 3) if self.faces.size else None,
            "language": self.language or None,
        }


def _meaning(words: list[dict], use_embeddings: bool, language: str = "en") -> tuple[np.ndarray, list[float]]:
    """(sentence vectors, topic boundaries): by meaning when embeddings load, else by repeated words."""
    if use_embeddings:
        from streamapp.analysis import embeddings
        from streamapp.analysis.topics import embedding_boundaries

        sentences = split_sentences(words)
        try:
            vectors = embeddings.embed_passages([s["text"] for s in sentences], language)
        except embeddings.EmbeddingsUnavailable as exc:
            log.warning("topics and steering by repeated words only: %s", exc.message)
        else:
            embeddings.release()  # the pool process goes on to render: MiniLM's 90 MB need not stay
            return vectors.astype(np.float16), embedding_boundaries(sentences, vectors)
    return np.zeros((0, 0), dtype=np.float16), topic_boundaries(words, snap_to=sentence_starts(words))


class _Progress:
    """Calls the callback only when the fraction crosses the next 1/20 step."""

    def __init__(self, callback: Callable[[float], None] | None) -> None:
        self.callback = callback
        self.next_step = 1

    def __call__(self, fraction: float) -> None:
        if self.callback is None:
            return
        fraction = min(1.0, max(0.0, fraction))
        step = int(fraction * _PROGRESS_STEPS)
        if step >= self.next_step:
            self.next_step = step + 1
            self.callback(step / _PROGRESS_STEPS)


def _video_pass(
    path: str, params: AnalysisParams, fps_hint: float, duration_hint: float, progress: _Progress, share: float
):  # -> PictureSignals
    """Analyse the picture, in pieces decoded side by side when the file allows.

    Two single-threaded decoders on two pieces of the file decode ~1.3x faster than one decoder with
    two threads (frame threading waits on reference frames; separate pieces never wait on each
    other). PyAV decodes and the numba kernels run without the GIL, so threads are enough. Each piece
    starts at a keyframe; the pieces' statistics are joined exactly (PictureAnalyzer.extend).
    """
    cores = usable_cores()
    # One piece per core: more pieces cost more seeks than their better balance saves (measured on 25 s files).
    use_pieces = cores > 1 and params.parallel_decode and duration_hint > 0
    starts = keyframe_starts(path, cores, duration_hint) if use_pieces else [0.0]
    coarse = params.coarse_decode and coarse_worthwhile(path, duration_hint)  # once per file: pieces decode alike
    stops: list[float | None] = [*starts[1:], None]
    done = [0.0] * len(starts)  # media seconds analysed per piece, for progress
    lock = threading.Lock()
    failed = threading.Event()

    def analyse(piece: int) -> PictureAnalyzer:
        analyzer = PictureAnalyzer(fps_hint, detect_faces=params.faces)
        frames = iter_video_frames(
            path, params.analysis_height, face_height=params.face_height if params.faces else 0,
            face_every_s=params.face_every_s, fast=params.fast_decode, start_s=starts[piece],
            stop_s=stops[piece], threads=1 if len(starts) > 1 else cores, coarse=coarse,
        )
        for f in frames:
            # Only the last k small frames are kept inside the analyzer: memory does not grow with the video.
            analyzer.add(f.t_s, f.grey, f.face_grey, f.still_diff, f.keyframe)
            if failed.is_set():
                raise _Cancelled
            if duration_hint > 0:
                done[piece] = f.t_s - starts[piece]
                with lock:
                    progress(share * sum(done) / duration_hint)
        return analyzer

    if len(starts) == 1:
        analyzer = analyse(0)
    else:
        pieces = _run_side_by_side(analyse, len(starts), failed)
        analyzer = pieces[0]
        for piece in pieces[1:]:
            analyzer.extend(piece)
    fps = fps_hint
    if fps <= 0 and len(analyzer.times) > 1:
        fps = (len(analyzer.times) - 1) / max(1e-9, analyzer.times[-1] - analyzer.times[0])
    return analyzer.finish(params.cut_min_diff, params.cut_ratio, params.min_shot_s, fps)


def picture_pass(path: str, params: AnalysisParams, info: SourceInfo,
                 on_progress: Callable[[float], None] | None = None):  # -> PictureSignals
    """The picture's signals alone (shots, motion, black and frozen spans, faces when ``params.faces``)."""
    return _video_pass(path, params, info.fps, info.duration_s, _Progress(on_progress), 1.0)


def _run_side_by_side(work: Callable[[int], PictureAnalyzer], count: int,
                      failed: threading.Event) -> list[PictureAnalyzer]:
    """``work(i)`` for i in range(count), each in its own thread (the caller's takes piece 0); the first
    error stops the others and is raised here. Results come back in piece order."""
    results: list[PictureAnalyzer | None] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = work(i)
        except _Cancelled:
            pass
        except BaseException as exc:  # handed to the caller's thread below
            errors.append(exc)
            failed.set()

    threads = [threading.Thread(target=run, args=(i,), name=f"extract-video-{i}", daemon=True)
               for i in range(1, count)]
    for thread in threads:
        thread.start()
    run(0)
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [r for r in results if r is not None]


@dataclass
class _AudioFeatures:
    rms_db: np.ndarray
    kpower: np.ndarray
    zcr: np.ndarray
    band: np.ndarray


def _audio_pass(
    path: str, params: AnalysisParams, duration_hint: float, progress: Callable[[float], None], lo: float,
    hi: float,
) -> _AudioFeatures:
    rate = params.audio_rate
    hop = hop_samples(rate, params.hop_s)
    meter = KWeightedMeter(rate, hop)
    # One small value per hop per feature (20 a second): tiny next to the audio itself.
    rms: list[np.ndarray] = []
    kp: list[np.ndarray] = []
    zc: list[np.ndarray] = []
    bands: list[np.ndarray] = []

    def take(chunk: np.ndarray) -> None:
        rms.append(rms_envelope_db(chunk, rate, params.hop_s))
        if chunk.size % hop:  # the trailing partial hop: pad with silence for the per-hop features
            chunk = np.concatenate([chunk, np.zeros(hop - chunk.size % hop, dtype=np.float32)])
        p, z = meter.feed(chunk)
        kp.append(p)
        zc.append(z)
        bands.append(band_ratio(chunk.reshape(-1, hop), rate))

    pending = np.zeros(0, dtype=np.float32)
    cursor = 0  # samples placed on the media-time line so far (sample 0 = time 0)
    for t, block in iter_audio_blocks(path, rate):
        offset = int(round(t * rate)) - cursor
        if offset < 0:
            # Audio before time 0 (encoder priming, early start) or overlap: drop it.
            block = block[-offset:]
        elif offset > 0:
            block = np.concatenate([np.zeros(offset, dtype=np.float32), block])  # a gap is silence
        if block.size == 0:
            continue
        cursor += block.size
        pending = np.concatenate([pending, block]) if pending.size else block
        whole = (pending.size // hop) * hop
        if whole >= hop * 20:  # a second at a time keeps the per-call overhead small
            take(pending[:whole])
            pending = pending[whole:]
        if duration_hint > 0:
            progress(lo + (hi - lo) * t / duration_hint)
    if pending.size:
        take(pending)

    def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

    return _AudioFeatures(cat(rms, np.float32), cat(kp, np.float64), cat(zc, np.float32), cat(bands, np.float32))


class _Cancelled(Exception):
    pass


class _AudioWorker:
    """``_audio_pass`` in a daemon thread; ``result()`` joins it and re-raises what it raised."""

    def __init__(self, path: str, params: AnalysisParams, duration_hint: float) -> None:
        self._stop = threading.Event()
        self._feats: _AudioFeatures | None = None
        self._error: BaseException | None = None
        self.elapsed_s = 0.0

        def tick(_fraction: float) -> None:
            if self._stop.is_set():
                raise _Cancelled

        def run() -> None:
            t0 = time.perf_counter()
            try:
                self._feats = _audio_pass(path, params, duration_hint if duration_hint > 0 else 1.0, tick, 0.0, 1.0)
            except _Cancelled:
                pass
            except BaseException as exc:  # handed to the caller's thread by result()
                self._error = exc
            self.elapsed_s = time.perf_counter() - t0

        self._thread = threading.Thread(target=run, name="extract-audio", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        self._stop.set()
        self._thread.join()

    def result(self) -> _AudioFeatures:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._feats is not None
        return self._feats


def extract(
    path: str | Path,
    params: AnalysisParams = AnalysisParams(),
    on_progress: Callable[[float], None] | None = None,
    asr: AsrParams | None = None,
    info: SourceInfo | None = None,
) -> Signals:
    """Analyse a video: picture (motion, cuts incl. dissolves, black/frozen, faces), audio (loudness,
    LUFS, speech, bursts, silences) and, when ``asr`` is given, words and topic boundaries. ``info``: the
    source's probe when the caller has it (a probe hashes the whole file).

    Raises InputError from probing and MediaError(media_failed) when no video frame decodes. A failing
    speech recogniser is logged and leaves ``words`` empty; everything else still works.
    """
    path = str(path)
    progress = _Progress(on_progress)
    timings: dict[str, float] = {}
    video_share, audio_end = (0.55, 0.65) if asr is not None else (_VIDEO_SHARE, 1.0)

    t0 = time.perf_counter()
    info = info or probe(path, hash_file=False)  # extract reads no hash: the caller's cache key has it
    timings["probe"] = time.perf_counter() - t0

    # The audio pass runs in a worker thread, overlapping the video decode: PyAV decodes and resamples
    # without the GIL and the loudness kernels are nogil numba, so it fills the gaps the video
    # decoder's threads leave. It reports no progress of its own (the video pass drives it).
    audio = _AudioWorker(path, params, info.duration_s) if info.has_audio else None

    t0 = time.perf_counter()
    try:
        pic = _video_pass(path, params, info.fps, info.duration_s, progress, video_share)
    except BaseException:
        if audio is not None:
            audio.cancel()
        raise
    timings["video"] = time.perf_counter() - t0
    frame_times = pic.times_s
    if frame_times.size == 0:
        if audio is not None:
            audio.cancel()
        name = os.path.basename(path)
        raise MediaError(f"no video frame could be decoded from {name}", code="media_failed")

    loudness = np.zeros(0, dtype=np.float32)
    lufs = np.zeros(0, dtype=np.float32)
    speech = np.zeros(0, dtype=np.uint8)
    quiet: list[tuple[float, float]] = []
    loud_events: list[tuple[float, float]] = []
    if audio is not None:
        t0 = time.perf_counter()
        feats = audio.result()
        timings["audio_wait"] = time.perf_counter() - t0
        timings["audio"] = audio.elapsed_s
        loudness = feats.rms_db
        quiet = silences(loudness, params.hop_s, params.silence_db, params.min_silence_s)
        lufs = momentary_lufs(feats.kpower, params.hop_s)
        speech = speech_activity(loudness, feats.zcr, feats.band, params.hop_s)
        loud_events = bursts(lufs, params.hop_s)
        progress(audio_end)

    words: list[dict] = []
    topics: list[float] = []
    language = ""
    vectors = np.zeros((0, 0), dtype=np.float16)
    if asr is not None and loudness.size:
        t0 = time.perf_counter()
        try:
            transcript = transcribe_speech(
                path, asr, info.duration_s,
                on_progress=lambda f: progress(audio_end + (1.0 - audio_end) * f),
            )
            words, language = transcript.words, transcript.language
        except Exception as exc:  # no model, bad model, decoder trouble: analysis goes on without words
            log.warning("speech recognition failed, continuing without a transcript: %s", exc)
        if words:
            speech = speech_from_words(words, loudness.size, params.hop_s)
        timings["asr"] = time.perf_counter() - t0
        if words:
            t0 = time.perf_counter()
            vectors, topics = _meaning(words, params.sentence_embeddings, language)
            timings["embeddings"] = time.perf_counter() - t0

    fps = info.fps
    if fps <= 0 and frame_times.size > 1:
        fps = (frame_times.size - 1) / max(1e-9, frame_times[-1] - frame_times[0])
    # Duration from what actually decoded: a truncated file's header over-promises.
    video_end = float(frame_times[-1]) + (1.0 / fps if fps > 0 else 0.0)
    audio_len = loudness.size * params.hop_s
    decoded = max(video_end, min(audio_len, info.duration_s) if info.duration_s > 0 else audio_len)
    truncated = info.duration_s > decoded + _TRUNCATED_SLACK_S
    duration = decoded if truncated or info.duration_s <= 0 else info.duration_s
    progress(1.0)
    return Signals(
        duration_s=float(duration),
        fps=float(fps),
        frame_times_s=frame_times,
        motion=pic.motion,
        cuts_s=pic.cuts_s,
        hop_s=params.hop_s,
        loudness_db=loudness,
        has_audio=bool(info.has_audio and loudness.size > 0),
        silences=quiet,
        timings_s=timings,
        truncated=truncated,
        lufs=lufs,
        speech=speech,
        bursts=loud_events,
        words=words,
        topics_s=topics,
        gradual_s=pic.gradual_s,
        black=pic.black,
        frozen=pic.frozen,
        face_times_s=pic.face_times_s,
        faces=pic.faces,
        face_area=pic.face_area,
        language=language,
        sentence_vectors=vectors,
    )
