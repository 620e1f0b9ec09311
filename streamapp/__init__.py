"""streamapp: long videos in, post-ready short clips out, as a Kafka stream processor."""

import os
from pathlib import Path


def user_cache_dir() -> Path:
    """streamapp's folder in the user's cache ($XDG_CACHE_HOME or ~/.cache): compiled kernels, joined models."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "streamapp"


# numba keeps compiled kernels beside their source by default: in the checkout, or not at all where
# site-packages is read-only. The user's cache folder survives reinstalls of the same version and is
# filled once by `python -m streamapp.warm` (scripts/run.sh and scripts/test.sh run it after install).
os.environ.setdefault("NUMBA_CACHE_DIR", str(user_cache_dir() / "numba"))
