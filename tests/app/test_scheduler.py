"""The scheduler's choice, with a runner that only records what it was asked to run (no broker needed)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from streamapp.app.scheduler import Scheduler
from streamapp.settings import Settings


class RecordingRunner:
    def __init__(self) -> None:
        self.started: list[str] = []
        self.release = asyncio.Event()

    async def run(self, record: dict[str, Any]) -> None:
        self.started.append(record["job_id"])
        await self.release.wait()


def queued(job_id: str, priority: str, created_at: float) -> dict[str, Any]:
    return {"job_id": job_id, "state": "queued", "priority": priority, "created_at": created_at,
            "request": {"path": f"/in/{job_id}.mp4"}, "partition": 0}


def test_a_submission_still_on_its_way_to_the_table_is_chosen_first() -> None:
    table = [queued("low-1", "low", 1.0), queued("low-2", "low", 2.0)]
    checks: list[int] = []

    async def caught_up(timeout_s: float) -> bool:
        # The agents apply a high job's queued event that was already in the log when the slot freed.
        checks.append(len(table))
        table.append(queued("high", "high", 3.0))
        return True

    async def scenario() -> list[str]:
        runner = RecordingRunner()
        scheduler = Scheduler(Settings(), runner, lambda: list(table), lambda p: True, capacity=lambda: 1,
                              caught_up=caught_up)
        loop = asyncio.create_task(scheduler.loop())
        while not runner.started:
            await asyncio.sleep(0.01)
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
        return runner.started

    assert asyncio.run(scenario()) == ["high"]
    assert checks == [2]


def test_without_free_capacity_the_scheduler_does_not_wait() -> None:
    table = [queued("low-1", "low", 1.0)]
    checks: list[float] = []

    async def caught_up(timeout_s: float) -> bool:
        checks.append(timeout_s)
        return True

    async def scenario() -> None:
        scheduler = Scheduler(Settings(), RecordingRunner(), lambda: list(table), lambda p: True,
                              capacity=lambda: 0, caught_up=caught_up)
        loop = asyncio.create_task(scheduler.loop())
        await asyncio.sleep(0.2)
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop

    asyncio.run(scenario())
    assert checks == []
