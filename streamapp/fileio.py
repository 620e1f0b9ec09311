"""Atomic file writes: write under a name of one's own, then rename over the final name.

Temporary names are unique per process and call, so two runs of the same stage (a re-run after a
rebalance racing a zombie pool process) never write into each other's half files.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def temp_path_for(path: str | Path) -> str:
    """A unique sibling of ``path`` that keeps its suffix (muxers pick the format by it)."""
    path = Path(path)
    return str(path.with_name(f".{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.part{path.suffix}"))


def remove_temp_files(folder: str | Path) -> list[str]:
    """Delete the half files that processes killed mid-write left in ``folder``; returns their names."""
    removed = []
    for leftover in Path(folder).glob(".*.part*"):
        leftover.unlink(missing_ok=True)
        removed.append(leftover.name)
    return removed


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(path)
    try:
        with open(tmp, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
