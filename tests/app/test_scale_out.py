"""Integration: six workers in one group share a backlog on the embedded broker, and nothing is lost when two of
them leave (SIGKILLed mid-job, not replaced). Uses the fault harness: its own broker, Redis and workers."""

from __future__ import annotations

import pytest

from tests.faults.harness import FaultPlan, run_faults

pytestmark = [pytest.mark.integration, pytest.mark.consumer_groups]

WORKERS = 6


def test_six_workers_share_the_work_and_two_leaving_lose_nothing(tmp_path) -> None:
    plan = FaultPlan(jobs=36, bad_inputs=0, kills=2, pauses=0, redis_restarts=0, workers=WORKERS, pool_size=1,
                     replace_killed=False, spread_jobs=True, video_s=10.0, kill_states=("extracting", "exporting"),
                     faults_once_all_worked=True, deadline_s=480.0, seed=612)
    figures = run_faults(plan, tmp_path / "run")
    context = figures.report()
    assert figures.ok and not figures.lost and not figures.duplicated, context
    assert figures.done == plan.jobs and figures.kills == 2, context
    # Every one of the six took work from the backlog (the kills wait for that): the two that left before they
    # were killed, the four that stayed until the end.
    assert len(figures.extracts_by_worker) == WORKERS, context + f"\n{figures.extracts_by_worker}"
    assert all(count > 0 for count in figures.extracts_by_worker.values()), figures.extracts_by_worker
