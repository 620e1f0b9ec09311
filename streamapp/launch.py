"""The ``streamapp`` command's entry point: the CLI loaded with Python's cyclic garbage collector off.

Start-up is most of a short command (``streamapp shots`` on a 1-minute file: 0.6 s of 1.8 s). Loading the CLI,
and then the analysis modules with numba, allocates hundreds of thousands of objects that live as long as the
process; the collector's passes over them free nothing and cost 0.1 s. So it is off while they load, and what
they loaded is frozen before it comes back on: later passes skip it. So is everything at exit.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def loading() -> Iterator[None]:
    """Imports inside run without the collector; what exists when they end is frozen (``gc.freeze``)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def main() -> None:
    with loading():
        from streamapp.cli import main as run_cli
    try:
        run_cli()
    finally:
        # Leaving, Python collects every reference cycle still alive, and numba's typing and lowering
        # registries hold thousands: 0.15 s of `streamapp shots` on a 1-minute file (2 s in all). Frozen
        # objects are skipped; the process is ending and the OS takes the memory back either way.
        gc.freeze()
