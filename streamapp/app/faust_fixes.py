"""Workarounds for faust-streaming (0.15.x) behaviour that crashes or misleads a worker, in one place.

Each names what it works around; remove it when the bug it names is fixed upstream.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Set
from typing import Any

import faust
from faust.tables import TableManager
from faust.tables.recovery import Recovery
from faust.types import TP

log = logging.getLogger("streamapp.worker")


def seek_targets(offsets: Mapping[TP, int | None], tps: Set[TP]) -> dict[TP, int]:
    """Where recovery should start reading each changelog partition: an offset >= 0, always.

    Faust builds a start offset as max(the last offset it read, the broker's earliest offset - 1) and maps
    only -1 to 0. Any other negative offset, or a None where the broker gave no answer, reaches aiokafka's
    seek, which raises "Offset must be a positive integer" inside recovery and kills the worker (seen in a
    6-worker fault run on the embedded broker after a rebalance). Reading such a changelog partition from
    its start instead only replays events the table applies idempotently.
    """
    targets = {}
    for tp in tps:
        offset = offsets.get(tp)
        targets[tp] = offset if isinstance(offset, int) and offset >= 0 else 0
    return targets


class SafeRecovery(Recovery):
    async def _seek_offsets(self, consumer, tps, offsets, title: str) -> None:  # type: ignore[no-untyped-def]
        await consumer.seek_wait(seek_targets(offsets, tps))


class SafeTableManager(TableManager):
    """Faust's table manager with :class:`SafeRecovery` (set as the app's ``TableManager``)."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = SafeRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery


def resume_fetching(consumer: Any, tp: TP) -> str:
    """Make Faust fetch ``tp`` again; returns what its state was, for the log.

    Faust fetches only the partitions in its consumer's active set. A partition leaves the set while its
    stream's buffer is full (``on_buffer_full``) or while paused for recovery, and comes back on
    ``on_buffer_drop`` / ``resume_partitions``. After rebalances under load, a six-worker run on the embedded
    broker had partitions assigned and never fetched again (their queued jobs waited 7 minutes, until the next
    rebalance); faust-streaming issue 629 reports partitions that send no fetch request after a rebalance.
    Called for a partition that has made no progress while its log holds more (AppliedOffsets.stalled).
    """
    state = fetch_state(consumer, tp)
    getattr(consumer, "_buffered_partitions", set()).discard(tp)
    consumer.resume_partitions({tp})
    return state


def fetch_state(consumer: Any, tp: TP) -> str:
    """What Faust's consumer holds about ``tp``, for the log: whether it fetches it, and the offset below which it
    drops what it reads ("DROPPED MESSAGE ROFF")."""
    active = getattr(consumer, "_active_partitions", None) or set()
    paused = getattr(consumer, "_paused_partitions", set())
    buffered = getattr(consumer, "_buffered_partitions", set())
    read_offset = getattr(consumer, "_read_offset", {}).get(tp)
    return (f"active={tp in active} paused={tp in paused} buffered={tp in buffered} "
            f"assigned={tp in consumer.assignment()} read_offset={read_offset}")


async def refetch_from(consumer: Any, tp: TP, offset: int) -> str:
    """Seek ``tp`` to ``offset``: aiokafka fetches from there again and Faust's read offset (below which it drops
    what it reads) is set to it. For a partition that a resume did not move (a six-worker run: three partitions
    held for 8 minutes, active, not paused, not buffered, nothing applied while their logs held more)."""
    state = fetch_state(consumer, tp)
    await consumer.seek(tp, offset)
    return state


def request_rejoin(consumer: Any) -> bool:
    """Ask Faust's consumer to leave its current generation and join the group again, so the group's leader
    assigns every partition anew; False when the consumer is not running. For a partition no live worker holds
    (app/holders.py); aiokafka's coordinator lives on Faust's consumer thread, so the request is handed to that
    thread's loop."""
    thread = getattr(consumer, "_thread", None)
    client = getattr(thread, "_consumer", None)
    coordinator = getattr(client, "_coordinator", None)
    if thread is None or coordinator is None:
        return False
    thread.thread_loop.call_soon_threadsafe(coordinator.request_rejoin)
    return True


class BoundedShutdownWorker(faust.Worker):
    """A Faust worker whose stop on SIGTERM/SIGINT takes at most ``shutdown_grace_s``.

    Faust's stop flushes the producer's buffer and waits for it without a limit. With the broker gone
    (a test run's broker killed, a Kafka outage during a deploy) that wait never ends: the worker logged
    "Unable connect" for as long as it lived and a second SIGTERM changed nothing. Past the grace period
    the process exits anyway; nothing durable is lost, since the job log, not this process, is the record
    of work and unpublished events are published again by whoever runs the job next.
    """

    def __init__(self, *args: Any, shutdown_grace_s: float = 15.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shutdown_grace_s = shutdown_grace_s
        self._watchdog: threading.Timer | None = None

    def _schedule_shutdown(self, signal: Any) -> None:
        if self._watchdog is None:
            self._watchdog = threading.Timer(self._shutdown_grace_s, self._exit_now)
            self._watchdog.daemon = True
            self._watchdog.start()
        super()._schedule_shutdown(signal)

    def _exit_now(self) -> None:
        log.error("stopping took over %.0f s (is the broker reachable?); exiting without flushing",
                  self._shutdown_grace_s)
        logging.shutdown()
        os._exit(1)


class RepeatFilter(logging.Filter):
    """Lets one record of each message through per ``window_s``; the next one after the window says how many
    were held back. A worker whose broker is away gets "Unable connect to node ..." from aiokafka hundreds of
    times a second (7,577 lines in 40 s, seen in a test run); once every few seconds tells an operator as much.
    """

    def __init__(self, window_s: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 max_messages: int = 1000) -> None:
        super().__init__()
        self._window_s = window_s
        self._clock = clock
        self._max_messages = max_messages
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}  # (logger, message) -> (let through at, held)

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.getMessage())
        now = self._clock()
        shown_at, held = self._seen.get(key, (None, 0))
        if shown_at is not None and now - shown_at < self._window_s:
            self._seen[key] = (shown_at, held + 1)
            return False
        if len(self._seen) >= self._max_messages:
            self._seen.clear()
        self._seen[key] = (now, 0)
        if held:
            record.msg, record.args = f"{key[1]} (and {held} more like it in {self._window_s:.0f} s)", ()
        return True


def quiet_repeats(prefix: str = "aiokafka", window_s: float = 10.0) -> RepeatFilter:
    """Put one RepeatFilter on every logger under ``prefix`` (records are filtered by the logger that made them,
    so each module's logger needs it)."""
    repeats = RepeatFilter(window_s)
    names = [prefix, *(n for n in logging.root.manager.loggerDict if n.startswith(prefix + "."))]
    for name in names:
        logger = logging.getLogger(name)
        if repeats not in logger.filters:
            logger.addFilter(repeats)
    return repeats
