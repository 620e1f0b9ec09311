"""`python -m streamapp.warm` fills the user's cache with compiled kernels, never the checkout."""

import os
import subprocess
import sys
from pathlib import Path


def test_warm_compiles_kernels_into_the_user_cache(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    run = subprocess.run([sys.executable, "-m", "streamapp.warm"], env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    cache = tmp_path / "streamapp" / "numba"
    assert str(cache) in run.stdout
    indexed = {p.name.split(".")[0] for p in cache.rglob("*.nbi")}
    # Each module with kernels a job runs has its index there: shot cuts, loudness, luma shrink, mastering.
    for module in ("frame_diff", "loudness", "shrink", "audio_master"):
        assert module in indexed, sorted(indexed)
    assert any(cache.rglob("*.nbc"))


def test_numba_cache_defaults_to_the_user_cache_folder(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    code = "import streamapp, numba.core.config as c; print(c.CACHE_DIR)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert Path(out.stdout.strip()) == tmp_path / "streamapp" / "numba"
