"""A job's states, stages and priorities: the one place they are named.

The job-status schema, the OpenAPI document, the API's checks and the page take their names from here or
are checked against them (tests/test_job.py). The members are strings, so records and events keep plain
JSON strings and compare equal to the members.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """Where a job is. It moves forward only: queued -> extracting -> scoring -> exporting -> done | failed."""

    QUEUED = "queued"
    EXTRACTING = "extracting"
    SCORING = "scoring"
    EXPORTING = "exporting"
    DONE = "done"
    FAILED = "failed"

    @property
    def rank(self) -> int:
        """How far along: an event of lower rank than the record's state is stale."""
        return RANK[self]

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


class Stage(StrEnum):
    """What worked on the job last (``submit``: the submission itself)."""

    SUBMIT = "submit"
    EXTRACT = "extract"
    SCORE = "score"
    EXPORT = "export"


class Priority(StrEnum):
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"

    @property
    def rank(self) -> int:
        """Order of work: lower first."""
        return PRIORITY_RANK[self]


class EditState(StrEnum):
    """Where an edit of a done job's clip is: waiting for the job's worker, then rendered or refused."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


STATES: tuple[State, ...] = tuple(State)
TERMINAL = frozenset({State.DONE, State.FAILED})
RANK = {State.QUEUED: 0, State.EXTRACTING: 1, State.SCORING: 2, State.EXPORTING: 3, State.DONE: 4, State.FAILED: 4}
PRIORITIES: tuple[Priority, ...] = tuple(Priority)
PRIORITY_RANK = {Priority.HIGH: 0, Priority.NORMAL: 1, Priority.LOW: 2}
# The stages that do work, in order (the page shows one bar each).
WORK_STAGES: tuple[Stage, ...] = (Stage.EXTRACT, Stage.SCORE, Stage.EXPORT)
# Which stage runs a job in each live state.
STAGE_OF_STATE = {State.QUEUED: Stage.EXTRACT, State.EXTRACTING: Stage.EXTRACT, State.SCORING: Stage.SCORE,
                  State.EXPORTING: Stage.EXPORT}
