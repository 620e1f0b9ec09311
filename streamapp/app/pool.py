"""A process pool for heavy stage work whose size can change at run time.

Heavy work (decode, analysis, encode) runs in child processes so it never blocks the
event loop. Progress from children comes back over a multiprocessing queue.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from streamapp.errors import TransientError
from streamapp.processes import cap_heap_growth, die_with_parent, peak_rss_bytes, reset_peak_rss

_progress_queue: Any = None  # set in each child by _init_child
RECENT_PEAKS = 8  # the pool's peak is the largest of its last few tasks: one small job does not undo a big one


def _exit_with_parent(parent: int) -> None:
    """A pool process must not outlive its worker (pid ``parent``): a SIGKILLed worker leaves no renders
    running on. ``parent`` comes from the worker itself: a spawned child imports for a second or more
    before this runs, and a worker killed meanwhile would otherwise leave it re-parented and unaware."""
    die_with_parent(signal.SIGKILL)  # Linux: the kernel kills us when the parent dies from now on
    if os.getppid() != parent:  # it died before that was armed
        os._exit(1)

    def watch() -> None:  # elsewhere: notice the re-parenting within a second
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _init_child(progress_queue: Any, parent: int) -> None:
    _exit_with_parent(parent)
    cap_heap_growth()
    global _progress_queue
    _progress_queue = progress_queue


def _measured(fn: Callable[..., Any], *args: Any) -> tuple[Any, int]:
    """``fn(*args)`` in a pool process, with the process's peak resident size while it ran (on an error too: the
    exception carries it as ``peak_rss_bytes``)."""
    reset_peak_rss()
    try:
        result = fn(*args)
    except BaseException as exc:
        exc.peak_rss_bytes = peak_rss_bytes()  # type: ignore[attr-defined]  # pickled with the exception
        raise
    return result, peak_rss_bytes()


def report_progress(job_id: str, stage: str, fraction: float) -> None:
    """Called inside a child process: send a stage's progress to the parent (never blocks)."""
    if _progress_queue is not None:
        with contextlib.suppress(queue.Full, ValueError, OSError):
            _progress_queue.put_nowait((job_id, stage, float(fraction)))


class WorkPool:
    def __init__(self, size: int) -> None:
        self._context = multiprocessing.get_context("spawn")  # fork is unsafe with threads and numba
        self.progress: Any = self._context.Queue(maxsize=10_000)
        self.size = size  # slots: how many jobs the scheduler runs at once
        self.busy = 0
        self._executor = self._new_executor(size)
        self._processes = size  # processes the executor may hold (at least ``size``)
        self._futures: dict[str, set[Future[Any]]] = {}  # job id -> its work submitted and not yet finished
        self._threads = ThreadPoolExecutor(max_workers=16, thread_name_prefix="pool-io")
        self._peaks: deque[int] = deque(maxlen=RECENT_PEAKS)

    @property
    def process_peak_bytes(self) -> int:
        """The largest resident size a pool process reached in one of the recent tasks (0 before any)."""
        return max(self._peaks, default=0)

    @property
    def task_peaks(self) -> tuple[int, ...]:
        """Each recent task's peak, oldest first."""
        return tuple(self._peaks)

    def _record_peak(self, peak: int) -> None:
        if peak:
            self._peaks.append(peak)

    def _new_executor(self, size: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=size, mp_context=self._context, initializer=_init_child, initargs=(self.progress, os.getpid())
        )

    def resize(self, size: int, keep_processes: bool = False) -> None:
        """New work goes to a pool of the new size; work already running finishes where it is. With
        ``keep_processes`` a shrink lowers only the slot count and keeps the warm processes, so growing
        back costs nothing; without it the processes past the new size go (memory is given back)."""
        if size == self.size:
            return
        if size <= self._processes and (keep_processes or size > self.size):
            self.size = size
            return
        executor = self._executor
        if size > self.size and hasattr(executor, "_adjust_process_count"):
            # Growing keeps the warm processes and adds new ones (CPython's executor reads _max_workers
            # when it spawns); a whole new pool would pay every process's start-up again.
            executor._max_workers = size  # type: ignore[attr-defined]
            processes = getattr(executor, "_processes", None)
            if processes is not None and hasattr(executor, "_spawn_process"):
                for _ in range(size - len(processes)):  # start them now, not at the next idle moment
                    executor._spawn_process()  # type: ignore[attr-defined]
            self.size = self._processes = size
            return
        old, self._executor, self.size, self._processes = executor, self._new_executor(size), size, size
        old.shutdown(wait=False)

    async def run(self, fn: Callable[..., Any], *args: Any, job_id: str | None = None) -> Any:
        """``fn(*args)`` in a pool process. Work of ``job_id`` can be waited for with ``settle``: cancelling this
        call stops only work not yet started; a call already running in a process goes on to its end."""
        self.busy += 1
        executor = self._executor
        try:
            future = executor.submit(_measured, fn, *args)
            self._track(job_id, future)
            try:
                result, peak = await asyncio.wrap_future(future)
            except Exception as exc:
                self._record_peak(getattr(exc, "peak_rss_bytes", 0))
                raise
            self._record_peak(peak)
            return result
        except BrokenProcessPool:
            # A child died (OOM killer, a crash in native code): replace the pool and let the job retry.
            if executor is self._executor:
                self._executor, self._processes = self._new_executor(self.size), self.size
                executor.shutdown(wait=False, cancel_futures=True)
            raise TransientError("a pool process died while working", code="worker_process_died") from None
        finally:
            self.busy -= 1

    async def run_in_thread(self, fn: Callable[..., Any], *args: Any, job_id: str) -> Any:
        """``fn(*args)`` in a thread (waiting on the network, not the CPU: it takes no slot), tracked for
        ``settle`` like pool work."""
        future = self._threads.submit(fn, *args)
        self._track(job_id, future)
        return await asyncio.wrap_future(future)

    def _track(self, job_id: str | None, future: Future[Any]) -> None:
        if job_id is not None:
            self._futures.setdefault(job_id, set()).add(future)
            future.add_done_callback(functools.partial(self._forget, job_id))

    def _forget(self, job_id: str, future: Future[Any]) -> None:
        # Called from the executor's thread: set operations on a dict of sets are atomic under the GIL.
        futures = self._futures.get(job_id)
        if futures is not None:
            futures.discard(future)
            if not futures:
                self._futures.pop(job_id, None)

    async def settle(self, job_id: str, timeout_s: float) -> bool:
        """Wait until no work of ``job_id`` runs in the pool any more (at most ``timeout_s``); whether none does."""
        futures = list(self._futures.get(job_id, ()))
        if not futures:
            return True
        # In a thread, not through asyncio.wrap_future: the work's own outcome (often the JobCancelled it raised
        # on seeing the stop mark) is of no interest here, and asyncio would log it as never retrieved.
        _, pending = await asyncio.to_thread(concurrent.futures.wait, futures, timeout_s)
        return not pending

    def drain_progress(self, limit: int = 1000) -> list[tuple[str, str, float]]:
        items = []
        for _ in range(limit):
            try:
                items.append(self.progress.get_nowait())
            except (queue.Empty, OSError, ValueError):
                break
        return items

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._threads.shutdown(wait=False, cancel_futures=True)
