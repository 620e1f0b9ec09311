"""The process pool: runs work in child processes, grows without losing its warm processes, shrinks,
and turns a dead child into a transient error."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import psutil
import pytest

from streamapp.app.pool import WorkPool
from streamapp.errors import TransientError


def pids_in_parallel(pool: WorkPool, count: int) -> set[int]:
    async def main() -> list[int]:
        return await asyncio.gather(*(pool.run(_pid_after, 0.3) for _ in range(count)))

    return set(asyncio.run(main()))


def pool_processes() -> set[int]:
    return {child.pid for child in psutil.Process().children()
            if "spawn_main" in " ".join(child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE}


def _pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def test_grows_keeping_its_processes_and_shrinks() -> None:
    pool = WorkPool(1)
    try:
        first = pids_in_parallel(pool, 2)
        assert len(first) == 1 and os.getpid() not in first
        pool.resize(3)
        assert pool.size == 3 and first <= pool_processes()  # grown in place: the warm one is kept
        assert len(pool_processes()) == 3  # and the new ones started at once
        assert pids_in_parallel(pool, 6) <= pool_processes()
        pool.resize(1)
        assert pool.size == 1 and len(pids_in_parallel(pool, 3)) == 1
    finally:
        pool.shutdown()


def test_a_shrink_that_keeps_processes_grows_back_without_new_ones() -> None:
    pool = WorkPool(3)
    try:
        warm = pids_in_parallel(pool, 3)
        assert len(warm) == 3
        pool.resize(2, keep_processes=True)
        assert pool.size == 2 and pool_processes() == warm
        pool.resize(3)
        assert pool.size == 3 and pool_processes() == warm and pids_in_parallel(pool, 3) == warm
        pool.resize(1)  # a plain shrink gives the processes back
        assert pool.size == 1 and len(pids_in_parallel(pool, 3)) == 1
    finally:
        pool.shutdown()


def test_a_killed_child_is_a_transient_error_and_the_pool_recovers() -> None:
    pool = WorkPool(1)
    try:
        (child,) = pids_in_parallel(pool, 1)

        async def killed() -> None:
            task = asyncio.ensure_future(pool.run(_pid_after, 5.0))
            await asyncio.sleep(0.5)
            os.kill(child, signal.SIGKILL)
            await task

        with pytest.raises(TransientError) as error:
            asyncio.run(killed())
        assert error.value.code == "worker_process_died"
        assert len(pids_in_parallel(pool, 1)) == 1  # a fresh executor took over
    finally:
        pool.shutdown()


def _hold_bytes(size: int) -> int:
    block = bytearray(size)
    block[::4096] = b"x" * len(block[::4096])  # touch every page: resident, not just reserved
    return len(block)


def test_the_pool_knows_the_peak_its_processes_reached_in_recent_tasks() -> None:
    pool = WorkPool(1)
    try:
        async def main() -> tuple[int, int, int]:
            small = await pool.run(_hold_bytes, 1024)
            after_small = pool.process_peak_bytes
            await pool.run(_hold_bytes, 300 * 1024 * 1024)
            after_big = pool.process_peak_bytes
            await pool.run(_hold_bytes, 1024)  # a small task later does not hide the big one
            return small, after_small, after_big

        small, after_small, after_big = asyncio.run(main())
        assert small == 1024
        assert 0 < after_small < 250 * 1024 * 1024  # an idle interpreter with the pool's imports
        assert after_big >= after_small + 290 * 1024 * 1024
        assert pool.process_peak_bytes == after_big
        assert pool.task_peaks[-1] < after_big - 250 * 1024 * 1024  # each task's peak is its own
    finally:
        pool.shutdown()


def _hold_then_fail(size: int) -> None:
    _hold_bytes(size)
    raise ValueError("bad input")


def test_a_failed_task_still_reports_its_peak() -> None:
    pool = WorkPool(1)
    try:
        with pytest.raises(ValueError, match="bad input"):
            asyncio.run(pool.run(_hold_then_fail, 300 * 1024 * 1024))
        assert pool.task_peaks and pool.task_peaks[-1] >= 300 * 1024 * 1024
    finally:
        pool.shutdown()
