"""Pool-size optimizer: pure rules from metrics samples to resize decisions (no I/O, no clock of its own).

Rules, checked in this order on every sample:

1. ``bounds``           the pool is outside [min_size, max_size]: clamp at once (no hysteresis, no cooldown).
   ``memory_budget``    with a memory budget, the pool is larger than the processes that fit it at their peak
                        (the worker's main process, plus per process the larger of a render's expected peak and
                        the largest peak of the pool's recent tasks): shrink at once. The budget caps every other
                        rule's size too.
2. ``memory_pressure``  memory is tight (mem_percent > mem_high_percent or available < mem_min_available_bytes)
                        for ``hysteresis`` consecutive samples: shrink by ``step``.
3. ``backlog_growing``  the total backlog (lag) grew, or waited on a full pool, on each of ``hysteresis``
                        consecutive samples while memory was fine and either the CPU had headroom
                        (< cpu_headroom_percent) or slots were waiting on their input (URL downloads, which use
                        no CPU): grow to the larger of the size the CPU could carry (size x headroom / the
                        streak's busiest settled CPU sample, as the Flink autoscaler scales by busy time) and one
                        more slot per slot waiting on input; at least ``step`` more, at most one more per waiting
                        job. A CPU sample is the use since the previous one, so it says what the busy slots use
                        only when no slot started in between (settled): a streak without one grows by ``step``.
4. ``cpu_saturated``    the pool is above its starting size and the CPU is saturated (at or over
                        ``cpu_saturated_percent``, above the headroom so that growing and shrinking never meet)
                        with no slot waiting on input, for ``hysteresis`` samples: shrink by ``step`` (extra
                        slots pay off only while they wait on the network; on a busy CPU they slow every job).
5. ``idle``             no lag and no busy pool slot for ``idle_for_s`` seconds (and ``hysteresis`` samples):
                        shrink by ``step``.

Rules 2-5 wait ``cooldown_s`` after the previous decision, and every decision resets the streaks, so
the pool changes at most once per cooldown and only on sustained conditions. The caller applies a
decision (resizes the pool) and reports the new size in the next sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

GIB = 1024**3
MIB = 1024**2
# One pool process's peak before any task has been measured: a 1080x1920 render with captions
# (bench/memory.py: 520-650 MiB on a 2-hour 1080p talk).
DEFAULT_PROCESS_PEAK_BYTES = 700 * MIB


def expected_process_peak(measured_bytes: int) -> int:
    """What one pool process is counted at: the larger of its measured recent peak and a render's expected one.
    The next task may be a render even when the recent ones were small (warming a process, probing, scoring),
    and a peak is known only once its task has ended."""
    return max(measured_bytes, DEFAULT_PROCESS_PEAK_BYTES)


def slots_within_budget(budget_bytes: int, main_bytes: int, process_peak_bytes: int) -> int | None:
    """How many pool processes fit a worker's memory budget at their expected peak beside its main process (at
    least one: work must go on); None without a budget (``budget_bytes`` <= 0)."""
    if budget_bytes <= 0:
        return None
    return max(1, (budget_bytes - main_bytes) // expected_process_peak(process_peak_bytes))


@dataclass(frozen=True)
class MetricsSample:
    at: float                                   # seconds (time.time() or monotonic; only differences matter)
    stage_lag: dict[str, int]                   # messages waiting, per stage
    stage_busy: dict[str, int]                  # pool tasks running, per stage
    pool_size: int
    cpu_percent: float
    mem_percent: float
    mem_available_bytes: int
    throughput_jobs_per_min: float = 0.0
    input_wait: int = 0                         # slots whose job waits on its input (a download)
    main_rss_bytes: int = 0                     # the worker's main process
    process_peak_bytes: int = 0                 # a pool process's largest peak in its recent tasks (0: none yet)

    @property
    def total_lag(self) -> int:
        return sum(max(0, v) for v in self.stage_lag.values())

    @property
    def total_busy(self) -> int:
        return sum(max(0, v) for v in self.stage_busy.values())


@dataclass(frozen=True)
class Bounds:
    min_size: int
    max_size: int

    def __post_init__(self) -> None:
        if self.min_size < 1 or self.max_size < self.min_size:
            raise ValueError(f"bounds need 1 <= min_size <= max_size, got {self.min_size}..{self.max_size}")

    def clamp(self, size: int) -> int:
        return max(self.min_size, min(self.max_size, size))


@dataclass(frozen=True)
class Decision:
    at: float
    pool_size_from: int
    pool_size_to: int
    reason: str
    rule: str

    @property
    def delta(self) -> int:
        return self.pool_size_to - self.pool_size_from


@dataclass
class _Streaks:
    memory: int = 0
    backlog: int = 0
    cpu_peak: float = 0.0  # the busiest CPU sample of the backlog streak
    # The busiest of its settled samples (slots computing, none started since the previous sample); -1: none
    # yet. A slot that started within a sample's interval used the CPU for part of it at most (and often loads or
    # waits first), so sizing by that sample would count the slot as nearly free: the pool once grew 1 -> 4 on a
    # 2-core machine on samples taken as its first job began.
    cpu_settled_peak: float = -1.0
    saturated: int = 0
    idle: int = 0
    idle_since: float | None = None
    history: list[MetricsSample] = field(default_factory=list)


class Optimizer:
    """Feed it one ``MetricsSample`` at a time; it answers a ``Decision`` when the pool should change."""

    def __init__(
        self,
        bounds: Bounds,
        *,
        cooldown_s: float = 60.0,
        hysteresis: int = 3,
        step: int = 1,
        cpu_headroom_percent: float = 75.0,
        mem_high_percent: float = 85.0,
        mem_min_available_bytes: int = GIB,
        idle_for_s: float = 300.0,
        base_size: int | None = None,
        memory_budget_bytes: int = 0,
    ) -> None:
        if hysteresis < 1 or step < 1 or cooldown_s < 0 or idle_for_s < 0:
            raise ValueError("hysteresis and step must be >= 1; cooldown_s and idle_for_s >= 0")
        self.bounds = bounds
        self.cooldown_s = cooldown_s
        self.hysteresis = hysteresis
        self.step = step
        self.cpu_headroom_percent = cpu_headroom_percent
        self.mem_high_percent = mem_high_percent
        self.mem_min_available_bytes = mem_min_available_bytes
        self.idle_for_s = idle_for_s
        self.memory_budget_bytes = memory_budget_bytes  # the worker's, main and pool processes; 0 = none
        self.cpu_saturated_percent = min(99.5, max(97.0, cpu_headroom_percent + 5.0))
        # The starting size ``cpu_saturated`` shrinks back to; None turns that rule off.
        self.base_size = bounds.clamp(base_size) if base_size is not None else None
        self.last_decision: Decision | None = None
        self._streaks = _Streaks()
        self._previous: MetricsSample | None = None

    def memory_tight(self, sample: MetricsSample) -> bool:
        return sample.mem_percent > self.mem_high_percent or sample.mem_available_bytes < self.mem_min_available_bytes

    def in_cooldown(self, now: float) -> bool:
        return self.last_decision is not None and now - self.last_decision.at < self.cooldown_s

    def observe(self, sample: MetricsSample) -> Decision | None:
        previous, self._previous = self._previous, sample
        self._update_streaks(sample, previous)
        size = sample.pool_size
        bounds = self.bounds_for(sample)

        if size > bounds.max_size and bounds.max_size < self.bounds.max_size:
            return self._decide(sample, bounds.max_size, "memory_budget", self._over_budget(sample))
        clamped = bounds.clamp(size)
        if clamped != size:
            side = "below the minimum" if size < clamped else "above the maximum"
            limit = bounds.min_size if size < clamped else bounds.max_size
            return self._decide(sample, clamped, "bounds", f"pool size {size} is {side} {limit}")

        if self.in_cooldown(sample.at):
            return None

        n = self.hysteresis
        if self._streaks.memory >= n and size > bounds.min_size:
            available_gib = sample.mem_available_bytes / GIB
            return self._decide(
                sample, bounds.clamp(size - self.step), "memory_pressure",
                f"memory is tight for {n} samples (used {sample.mem_percent:.0f}%, {available_gib:.1f} GiB "
                f"available; limits {self.mem_high_percent:.0f}% / "
                f"{self.mem_min_available_bytes / GIB:.1f} GiB): shrinking",
            )

        if self._streaks.backlog >= n and size < bounds.max_size:
            first = self._streaks.history[0].total_lag if self._streaks.history else 0
            peak = self._streaks.cpu_peak
            why = (f"CPU at most {peak:.0f}% (< {self.cpu_headroom_percent:.0f}%)" if self._cpu_had_room()
                   else f"{sample.input_wait} slot(s) waiting on input (no CPU used) with CPU at {peak:.0f}%")
            return self._decide(
                sample, self.growth_target(sample), "backlog_growing",
                f"backlog grew or waited on a busy pool for {n} samples ({first} -> {sample.total_lag} waiting; "
                f"{_per_stage(sample.stage_lag)}), {why} and memory fine: growing",
            )

        if self.base_size is not None and self._streaks.saturated >= n and size > self.base_size:
            return self._decide(
                sample, max(self.base_size, size - self.step), "cpu_saturated",
                f"CPU at {sample.cpu_percent:.0f}% (>= {self.cpu_saturated_percent:.0f}%) for {n} samples and no "
                f"slot waiting on input: shrinking toward the starting size {self.base_size}",
            )

        idle_since = self._streaks.idle_since
        if (self._streaks.idle >= n and idle_since is not None and sample.at - idle_since >= self.idle_for_s
                and size > bounds.min_size):
            return self._decide(
                sample, bounds.clamp(size - self.step), "idle",
                f"no backlog and no busy worker for {sample.at - idle_since:.0f} s "
                f"(>= {self.idle_for_s:.0f} s): shrinking",
            )
        return None

    def growth_target(self, sample: MetricsSample) -> int:
        """The size to grow to: what the CPU could carry at the headroom, if the work is there."""
        size = sample.pool_size
        target = size + max(self.step, sample.input_wait)
        peak = self._streaks.cpu_settled_peak
        if self.cpu_headroom_percent < 100.0 and self._cpu_had_room() and peak >= 0.0:  # 100: ignore the CPU
            # The busy slots that compute (not those waiting on a download) use the CPU measured.
            computing = max(1, _computing(sample))
            carried = math.floor(computing * self.cpu_headroom_percent / max(peak, 10.0)) + sample.input_wait
            target = max(target, carried)
        return self.bounds_for(sample).clamp(min(target, size + max(self.step, sample.total_lag)))

    def bounds_for(self, sample: MetricsSample) -> Bounds:
        """The configured bounds, lowered to what the memory budget allows at the sample's measured peaks."""
        fits = slots_within_budget(self.memory_budget_bytes, sample.main_rss_bytes, sample.process_peak_bytes)
        if fits is None or fits >= self.bounds.max_size:
            return self.bounds
        return Bounds(min(self.bounds.min_size, fits), fits)

    def _over_budget(self, sample: MetricsSample) -> str:
        per_process = expected_process_peak(sample.process_peak_bytes)
        fits = self.bounds_for(sample).max_size
        return (f"{sample.pool_size} pool processes at {per_process / MIB:.0f} MiB each (their expected peak) beside "
                f"the main process's {sample.main_rss_bytes / MIB:.0f} MiB exceed the memory budget of "
                f"{self.memory_budget_bytes / MIB:.0f} MiB: {fits} fit")

    def _cpu_had_room(self) -> bool:
        """Whether every sample of the backlog streak was under the headroom (not just downloads waiting)."""
        return self._streaks.cpu_peak < self.cpu_headroom_percent

    def _update_streaks(self, sample: MetricsSample, previous: MetricsSample | None) -> None:
        streaks = self._streaks
        streaks.memory = streaks.memory + 1 if self.memory_tight(sample) else 0

        # A backlog that grows, or one that waits while every pool process is busy, wants more workers,
        # provided the CPU has headroom to run them.
        saturated = sample.total_lag > 0 and sample.total_busy >= sample.pool_size
        cpu_free = self.cpu_headroom_percent >= 100.0 or sample.cpu_percent < self.cpu_headroom_percent
        headroom = cpu_free or sample.input_wait > 0  # a slot waiting on the network holds no CPU
        growing = (
            previous is not None
            and (sample.total_lag > previous.total_lag or saturated)
            and headroom
            and not self.memory_tight(sample)
        )
        if growing:
            if streaks.backlog == 0 and previous is not None:
                streaks.history = [previous]
            streaks.backlog += 1
            streaks.cpu_peak = max(streaks.cpu_peak, sample.cpu_percent)
            if previous is not None and 0 < _computing(sample) <= _computing(previous):
                streaks.cpu_settled_peak = max(streaks.cpu_settled_peak, sample.cpu_percent)
        else:
            streaks.backlog = 0
            streaks.cpu_peak = 0.0
            streaks.cpu_settled_peak = -1.0
            streaks.history = []

        cpu_full = sample.cpu_percent >= self.cpu_saturated_percent
        streaks.saturated = streaks.saturated + 1 if cpu_full and sample.input_wait == 0 else 0

        if sample.total_lag == 0 and sample.total_busy == 0:
            streaks.idle += 1
            if streaks.idle_since is None:
                streaks.idle_since = sample.at
        else:
            streaks.idle = 0
            streaks.idle_since = None

    def _decide(self, sample: MetricsSample, to: int, rule: str, reason: str) -> Decision:
        decision = Decision(at=sample.at, pool_size_from=sample.pool_size, pool_size_to=to, reason=reason, rule=rule)
        self.last_decision = decision
        # conditions must build up again under the new size
        self._streaks = _Streaks()
        return decision


def _computing(sample: MetricsSample) -> int:
    """Busy pool slots that use the CPU (not those waiting on a download)."""
    return max(0, sample.total_busy - sample.input_wait)


def _per_stage(values: dict[str, int]) -> str:
    return ", ".join(f"{stage} {count}" for stage, count in sorted(values.items())) or "no stages"
