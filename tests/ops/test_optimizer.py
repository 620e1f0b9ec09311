"""Optimizer rules, bounds, hysteresis and cooldown on hand-made sample sequences."""

from __future__ import annotations

import dataclasses

import pytest

from streamapp.ops.optimizer import GIB, Bounds, Decision, MetricsSample, Optimizer


def sample(at: float, lag: int = 0, busy: int = 0, size: int = 4, cpu: float = 40.0, mem: float = 50.0,
           avail: int = 8 * GIB, input_wait: int = 0) -> MetricsSample:
    return MetricsSample(at=at, stage_lag={"extract": lag, "score": 0, "export": 0},
                         stage_busy={"extract": busy, "score": 0, "export": 0}, pool_size=size, cpu_percent=cpu,
                         mem_percent=mem, mem_available_bytes=avail, throughput_jobs_per_min=1.0,
                         input_wait=input_wait)


def feed(opt: Optimizer, samples: list[MetricsSample]) -> list[Decision]:
    return [d for s in samples if (d := opt.observe(s)) is not None]


def test_grows_when_backlog_grows_with_cpu_headroom() -> None:
    opt = Optimizer(Bounds(1, 8), cooldown_s=60, hysteresis=3)
    decisions = feed(opt, [sample(t * 10, lag=5 + t * 5, busy=4) for t in range(4)])
    assert len(decisions) == 1
    d = decisions[0]
    # 4 busy slots at 40 % CPU: 7 stay under the 75 % headroom
    assert (d.rule, d.pool_size_from, d.pool_size_to, d.at) == ("backlog_growing", 4, 7, 30)
    assert "for 3 samples (5 -> 20 waiting" in d.reason and "CPU at most 40%" in d.reason


def test_growth_is_sized_by_the_cpu_and_the_waiting_work() -> None:
    def grown(size: int, cpus: list[float], lag: int) -> int:
        opt = Optimizer(Bounds(1, 32), cooldown_s=0, hysteresis=len(cpus), cpu_headroom_percent=90.0)
        samples = [sample(0, lag=lag, busy=size, size=size, cpu=cpus[0])]
        samples += [sample(i + 1, lag=lag, busy=size, size=size, cpu=cpu) for i, cpu in enumerate(cpus)]
        decisions = feed(opt, samples)
        assert len(decisions) == 1
        return decisions[0].pool_size_to

    assert grown(2, [3.0, 3.0], lag=20) == 18    # slots waiting on downloads: the CPU could carry 2 x 90/10
    assert grown(2, [3.0, 3.0], lag=3) == 5      # ... but only three jobs wait
    assert grown(4, [80.0, 80.0], lag=20) == 5   # a busy CPU: one step
    assert grown(2, [20.0, 60.0], lag=20) == 3   # the busiest sample of the streak counts
    # one busy slot of four uses 20 %: the CPU carries 4 such slots, so one step
    few_busy = Optimizer(Bounds(1, 32), cooldown_s=0, hysteresis=2, cpu_headroom_percent=90.0)
    assert [d.pool_size_to for d in feed(few_busy, [sample(i, lag=5 * (i + 1), busy=1, size=4, cpu=20.0)
                                                    for i in range(3)])] == [5]
    ignoring_cpu = Optimizer(Bounds(1, 32), cooldown_s=0, hysteresis=1, cpu_headroom_percent=100.0)
    assert [d.pool_size_to for d in feed(ignoring_cpu, [sample(0, lag=9, busy=2, size=2, cpu=3.0),
                                                        sample(1, lag=9, busy=2, size=2, cpu=3.0)])] == [3]


def test_cpu_samples_from_before_a_slot_started_do_not_size_the_growth() -> None:
    # A one-slot pool on two cores: its job starts as the backlog arrives, so the samples of the streak were
    # taken while the slot had barely begun (5 % CPU). They say nothing of what a job uses: one step, not 1 -> 4.
    def decisions(busy: list[int], cpus: list[float]) -> list[int]:
        opt = Optimizer(Bounds(1, 8), cooldown_s=0, hysteresis=2)
        return [d.pool_size_to for d in feed(opt, [sample(i, lag=3 + i, busy=b, size=1, cpu=c)
                                                    for i, (b, c) in enumerate(zip(busy, cpus, strict=True))])]

    assert decisions([0, 1, 1], [2.0, 5.0, 60.0]) == [2]  # the one settled sample: the job uses 60 %
    assert decisions([0, 0, 1], [2.0, 2.0, 5.0]) == [2]  # no settled sample: one step
    assert decisions([1, 1, 1], [5.0, 5.0, 5.0]) == [6]  # busy all along at 5 %: room for 7, five jobs wait


def test_grows_when_a_steady_backlog_waits_on_a_saturated_pool() -> None:
    opt = Optimizer(Bounds(1, 8), cooldown_s=60, hysteresis=2)
    decisions = feed(opt, [sample(t * 10, lag=6, busy=2, size=2) for t in range(3)])
    assert [(d.rule, d.pool_size_to) for d in decisions] == [("backlog_growing", 3)]  # 2 x 75 / 40
    # the same steady backlog with idle pool processes is not a reason to grow
    calm = Optimizer(Bounds(1, 8), cooldown_s=60, hysteresis=2)
    assert feed(calm, [sample(t * 10, lag=6, busy=1, size=2) for t in range(5)]) == []


def test_slots_waiting_on_downloads_grow_the_pool_even_on_a_busy_cpu() -> None:
    # One job's analysis fills both cores while two other slots wait on their downloads.
    opt = Optimizer(Bounds(1, 8), cooldown_s=0, hysteresis=2, cpu_headroom_percent=90.0, base_size=2)
    decisions = feed(opt, [sample(i, lag=9, busy=4, size=4, cpu=99.0, input_wait=2) for i in range(3)])
    assert [(d.rule, d.pool_size_to) for d in decisions] == [("backlog_growing", 6)]
    # without the downloads the same busy CPU is no reason to grow
    busy = Optimizer(Bounds(1, 8), cooldown_s=0, hysteresis=2, cpu_headroom_percent=90.0)
    assert feed(busy, [sample(i, lag=9, busy=4, size=4, cpu=99.0) for i in range(3)]) == []


def test_a_saturated_cpu_shrinks_back_to_the_starting_size_once_downloads_are_over() -> None:
    opt = Optimizer(Bounds(1, 8), cooldown_s=0, hysteresis=2, cpu_headroom_percent=90.0, base_size=2)
    size, sizes = 5, []
    for i in range(10):
        waiting_on_input = 1 if i < 3 else 0  # a download holds a slot for the first samples
        d = opt.observe(sample(i, lag=0, busy=size, size=size, cpu=98.0, input_wait=waiting_on_input))
        if d is not None:
            assert d.rule == "cpu_saturated" and "starting size 2" in d.reason
            size = d.pool_size_to
        sizes.append(size)
    assert sizes == [5, 5, 5, 5, 4, 4, 3, 3, 2, 2]


def test_between_headroom_and_saturation_the_pool_holds() -> None:
    opt = Optimizer(Bounds(1, 8), cooldown_s=0, hysteresis=2, cpu_headroom_percent=90.0, base_size=2)
    assert opt.cpu_saturated_percent == 97.0
    assert feed(opt, [sample(i, lag=9, busy=4, size=4, cpu=93.0) for i in range(6)]) == []
    reasons = [d.reason for d in feed(opt, [sample(10 + i, lag=9, busy=4, size=4, cpu=99.0) for i in range(3)])]
    assert len(reasons) == 1 and "CPU at 99% (>= 97%)" in reasons[0]


def test_hysteresis_needs_consecutive_growth() -> None:
    opt = Optimizer(Bounds(1, 8), cooldown_s=0, hysteresis=3)
    # grows twice, dips, grows twice: never three in a row
    lags = [10, 20, 30, 25, 30, 40]
    assert feed(opt, [sample(i * 10, lag=lag) for i, lag in enumerate(lags)]) == []
    assert opt.observe(sample(60, lag=50)) is not None  # the third growth in a row


def test_no_growth_without_cpu_headroom_or_with_tight_memory() -> None:
    busy_cpu = Optimizer(Bounds(1, 8), cooldown_s=0, hysteresis=2)
    assert feed(busy_cpu, [sample(i, lag=10 * (i + 1), cpu=80.0) for i in range(6)]) == []
    low_mem = Optimizer(Bounds(1, 8), cooldown_s=0, hysteresis=2)
    decisions = feed(low_mem, [sample(i, lag=10 * (i + 1), mem=90.0) for i in range(3)])
    assert [d.rule for d in decisions] == ["memory_pressure"]


def test_steady_backlog_does_not_grow() -> None:
    opt = Optimizer(Bounds(1, 8), cooldown_s=0, hysteresis=2)
    assert feed(opt, [sample(i, lag=50) for i in range(10)]) == []


@pytest.mark.parametrize(("mem", "avail", "why"), [(90.0, 8 * GIB, "used 90%"), (60.0, GIB // 2, "0.5 GiB available")])
def test_shrinks_under_memory_pressure(mem: float, avail: int, why: str) -> None:
    opt = Optimizer(Bounds(2, 8), cooldown_s=30, hysteresis=2)
    decisions = feed(opt, [sample(i * 10, lag=100, busy=4, mem=mem, avail=avail) for i in range(2)])
    assert [(d.rule, d.pool_size_to) for d in decisions] == [("memory_pressure", 3)]
    assert why in decisions[0].reason and "shrinking" in decisions[0].reason


def test_memory_pressure_stops_at_the_minimum() -> None:
    opt = Optimizer(Bounds(2, 8), cooldown_s=0, hysteresis=1)
    assert opt.observe(sample(0, size=2, mem=95.0)) is None


def test_shrinks_when_idle_for_a_while() -> None:
    opt = Optimizer(Bounds(1, 8), cooldown_s=0, hysteresis=3, idle_for_s=300)
    assert feed(opt, [sample(t) for t in range(0, 300, 30)]) == []  # idle, but not yet for 300 s
    d = opt.observe(sample(300))
    assert d is not None and (d.rule, d.pool_size_to) == ("idle", 3)
    assert "for 300 s" in d.reason


def test_work_interrupts_idleness() -> None:
    opt = Optimizer(Bounds(1, 8), cooldown_s=0, hysteresis=1, idle_for_s=100)
    samples = [sample(0), sample(60), sample(90, busy=1), sample(120), sample(200)]
    assert feed(opt, samples) == []  # idle since 120 only
    assert opt.observe(sample(220)) is not None


def test_bounds_are_enforced_at_once() -> None:
    opt = Optimizer(Bounds(2, 6), cooldown_s=1000, hysteresis=5)
    high = opt.observe(sample(0, size=9))
    assert high is not None and (high.rule, high.pool_size_to) == ("bounds", 6)
    assert "above the maximum 6" in high.reason
    low = opt.observe(sample(1, size=1))  # even inside the cooldown
    assert low is not None and (low.rule, low.pool_size_to) == ("bounds", 2)


def test_never_grows_past_the_maximum() -> None:
    opt = Optimizer(Bounds(1, 4), cooldown_s=0, hysteresis=1)
    assert feed(opt, [sample(i, lag=10 * (i + 1), size=4) for i in range(5)]) == []


def test_cooldown_spaces_decisions() -> None:
    opt = Optimizer(Bounds(1, 16), cooldown_s=60, hysteresis=1, cpu_headroom_percent=100.0)  # one step each
    size = 4
    decisions = []
    for i in range(20):
        d = opt.observe(sample(i * 10, lag=10 * (i + 1), size=size))
        if d:
            decisions.append(d)
            size = d.pool_size_to
    assert [d.at for d in decisions] == [10, 70, 130, 190]  # first growth needs a previous sample
    assert [d.pool_size_to for d in decisions] == [5, 6, 7, 8]
    assert opt.in_cooldown(200) and not opt.in_cooldown(250)


def test_every_decision_explains_itself() -> None:
    opt = Optimizer(Bounds(1, 8), cooldown_s=0, hysteresis=1, idle_for_s=0)
    for s in [sample(0, size=12), sample(1, mem=99), sample(2), sample(3, lag=5), sample(4, lag=9)]:
        d = opt.observe(s)
        if d is not None:
            assert d.rule in {"bounds", "memory_pressure", "backlog_growing", "idle"}
            assert d.reason and d.pool_size_from == s.pool_size and d.pool_size_to != d.pool_size_from


def test_invalid_configuration() -> None:
    with pytest.raises(ValueError):
        Bounds(0, 4)
    with pytest.raises(ValueError):
        Bounds(5, 4)
    with pytest.raises(ValueError):
        Optimizer(Bounds(1, 4), hysteresis=0)


MIB = 1024 * 1024


def test_slots_within_budget_count_processes_at_their_peak_beside_the_main_process() -> None:
    from streamapp.ops.optimizer import DEFAULT_PROCESS_PEAK_BYTES, slots_within_budget

    assert slots_within_budget(0, 200 * MIB, 600 * MIB) is None                 # no budget
    assert slots_within_budget(4096 * MIB, 200 * MIB, 900 * MIB) == 4           # (4096 - 200) // 900
    assert slots_within_budget(1024 * MIB, 200 * MIB, 900 * MIB) == 1
    assert slots_within_budget(512 * MIB, 200 * MIB, 900 * MIB) == 1            # never none: work goes on
    # a small measured peak (warming, probing) does not count below a render's expected peak
    assert slots_within_budget(3000 * MIB, 200 * MIB, 0) == (2800 * MIB) // DEFAULT_PROCESS_PEAK_BYTES
    assert slots_within_budget(3000 * MIB, 200 * MIB, 150 * MIB) == (2800 * MIB) // DEFAULT_PROCESS_PEAK_BYTES


def test_memory_budget_shrinks_at_once_and_caps_growth() -> None:
    def budgeted(size: int, lag: int = 0, busy: int = 0, peak: int = 800 * MIB, at: float = 0.0) -> MetricsSample:
        # CPU at 3 %: by the CPU alone the pool would grow to 50 slots
        return dataclasses.replace(sample(at, lag=lag, busy=busy, size=size, cpu=3.0), main_rss_bytes=200 * MIB,
                                   process_peak_bytes=peak)

    opt = Optimizer(Bounds(1, 8), cooldown_s=60, hysteresis=2, memory_budget_bytes=2000 * MIB)
    d = opt.observe(budgeted(4))
    assert d is not None and (d.rule, d.pool_size_to) == ("memory_budget", 2)  # (2000 - 200) // 800
    assert "800 MiB each" in d.reason and "budget of 2000 MiB: 2 fit" in d.reason
    # a growing backlog grows the pool only up to what fits, whatever the CPU could carry
    grow = Optimizer(Bounds(1, 8), cooldown_s=0, hysteresis=2, memory_budget_bytes=3000 * MIB)
    decisions = feed(grow, [budgeted(2, lag=5 * (t + 1), busy=2, peak=700 * MIB, at=t) for t in range(3)])
    assert [(d.rule, d.pool_size_to) for d in decisions] == [("backlog_growing", 4)]  # (3000 - 200) // 700
    # at the cap, no growth at all
    capped = Optimizer(Bounds(1, 8), cooldown_s=0, hysteresis=2, memory_budget_bytes=2000 * MIB)
    assert feed(capped, [budgeted(2, lag=5 * (t + 1), busy=2, at=t) for t in range(4)]) == []
    # larger peaks measured later lower the cap; without a budget nothing changes
    assert opt.bounds_for(budgeted(2, peak=1500 * MIB)).max_size == 1
    assert Optimizer(Bounds(1, 8)).observe(budgeted(8, peak=4096 * MIB)) is None
