"""Child processes that never outlive the process that started them."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import re
import signal

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_M_MMAP_THRESHOLD = -3
# Arrays above this size get pages of their own, given back the moment they are freed. Video frames up to 1080p
# (3 MB) stay below it, so decoding reuses the heap as before.
MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux; a no-op elsewhere).

    Meant for ``preexec_fn`` of a child we start (the embedded broker) and for pool initialisers: a
    SIGKILLed ``streamapp process`` or ``broker`` then takes its children with it instead of leaving a
    broker that keeps a port and a worker that logs "Unable connect" forever.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig))


def give_back_memory() -> None:
    """Return the C heap's free pages to the system (glibc's malloc_trim; a no-op elsewhere).

    Whisper's decoder (CTranslate2) allocates and frees large buffers from several threads per chunk; glibc
    keeps the freed pages in its per-thread arenas, so a long transcription's resident memory climbed from
    551 to 708 MiB over 40 minutes of speech. Trimming after each chunk held it at 475-500 MiB.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def cap_heap_growth(threshold: int = MMAP_THRESHOLD_BYTES) -> None:
    """Keep large numpy arrays out of the C heap (glibc's mallopt; a no-op elsewhere).

    glibc raises its mmap threshold to the size of each large block freed (up to 32 MiB), so after the first
    big array the later ones come from the heap, and a heap fragmented by them keeps its pages: a render that
    had mastered a 38 s clip's sound sat on 549 MiB after it ended instead of 294-315 (its peak moved within noise).
    A fixed threshold stops that adjustment (and glibc's trim threshold then stays at its 128 KiB default). Arrays
    above it cost a fresh mapping each time: a 4K frame copied out of the decoder would, the decoder's own frame
    buffers (pooled by FFmpeg) do not.
    """
    with contextlib.suppress(OSError, AttributeError):
        if ctypes.CDLL("libc.so.6").mallopt(_M_MMAP_THRESHOLD, int(threshold)) != 1:
            log.debug("mallopt(M_MMAP_THRESHOLD) refused %d", threshold)


def reset_peak_rss() -> None:
    """Start this process's peak resident size (VmHWM) afresh (Linux >= 4.0; elsewhere nothing happens)."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_rss_bytes() -> int:
    """This process's peak resident size since the last ``reset_peak_rss`` (or its start); 0 where unknown."""
    try:
        with open("/proc/self/status") as f:
            found = re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.MULTILINE)
    except OSError:
        return 0
    return int(found.group(1)) * 1024 if found else 0
