"""A real face photo for the face detector tests, fetched once from a PyPI wheel into a cache.

scikit-image's wheel ships ``skimage/data/astronaut.png``: NASA's portrait of astronaut Eileen Collins
(512x512 RGB, public domain). Like tests/media_fixtures.py's speech sample it is downloaded with pip
(no deps) on first use and cached; the tests never read /work/shared.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from tests.media_fixtures import wheel_member

FACE_WHEEL = "scikit-image==0.25.2"
FACE_MEMBER = "skimage/data/astronaut.png"
FACE_SHA256 = "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"


def astronaut_png(cache: Path | None = None) -> Path:
    """Path of the cached astronaut.png, downloading the wheel on first use. Raises OSError when offline."""
    try:
        target = wheel_member(FACE_WHEEL, FACE_MEMBER, "skimage-astronaut.png", cache)
    except (subprocess.SubprocessError, OSError) as exc:
        raise OSError(f"could not download {FACE_WHEEL}: {exc}") from exc
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    if digest != FACE_SHA256:
        raise AssertionError(f"{target} has SHA-256 {digest}, expected {FACE_SHA256}; delete it to fetch again")
    return target
