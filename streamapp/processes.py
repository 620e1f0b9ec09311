"""Child processes that never outlive the process that started them."""

from __future__ import annotations

import contextlib
import ctypes
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux; a no-op elsewhere).

    Meant for ``preexec_fn`` of a child we start (the embedded broker) and for pool initialisers: a
    SIGKILLed ``streamapp process`` or ``broker`` then takes its children with it instead of leaving a
    broker that keeps a port and a worker that logs "Unable connect" forever.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig))
