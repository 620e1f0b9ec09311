"""Atomic file writes: write under a name of one's own, then rename over the final name.

Temporary names are unique per process and call, so two runs of the same stage (a re-run after a
rebalance racing a zombie pool process) never write into each other's half files.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path


def temp_path_for(path: str | Path) -> str:
    """A unique sibling of ``path`` that keeps its suffix (muxers pick the format by it)."""
    path = Path(path)
    return str(path.with_name(f".{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.part{path.suffix}"))


def remove_temp_files(folder: str | Path, keep: Callable[[str], bool] | None = None) -> list[str]:
    """Delete the half files that processes killed mid-write left in ``folder`` (but those ``keep`` names);
    returns their names."""
    removed = []
    for leftover in Path(folder).glob(".*.part*"):
        if keep is not None and keep(leftover.name):
            continue
        leftover.unlink(missing_ok=True)
        removed.append(leftover.name)
    return removed


_PART_PID = re.compile(r"^\..*\.(\d+)-[0-9a-f]{8}\.part")


def _writer_alive(name: str) -> bool:
    match = _PART_PID.match(name)
    if not match:
        return False
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def sweep_temp_files(root: str | Path) -> list[str]:
    """At worker start: delete half files under ``root`` and its job folders whose writing process is gone.

    Several workers share the data dir, so a file whose writer (the pid in its name, see ``temp_path_for``)
    still runs on this machine is left alone: it is another worker's render in progress.
    """
    base = Path(root)
    if not base.is_dir():
        return []
    folders = [base, *(p for p in base.iterdir() if p.is_dir())]
    return [str(folder / name) for folder in folders for name in remove_temp_files(folder, keep=_writer_alive)]


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
