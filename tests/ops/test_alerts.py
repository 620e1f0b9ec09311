from __future__ import annotations

from types import SimpleNamespace

import pytest

from streamapp.ops.alerts import DEFAULTS, AlertEvaluator, AlertRule, default_rules


def test_fires_once_after_for_s_and_resolves_once() -> None:
    ev = AlertEvaluator([AlertRule("Lag", "lag", 100, 60, "warning")])
    assert ev.evaluate({"lag": 150}, now=0) == []
    assert ev.evaluate({"lag": 180}, now=59) == []
    fired = ev.evaluate({"lag": 200}, now=60)
    assert [(e.name, e.state, e.value, e.threshold, e.severity, e.at) for e in fired] == [
        ("Lag", "firing", 200.0, 100, "warning", 60)]
    assert "above 100 for 60 s" in fired[0].message and "200 messages waiting" in fired[0].message
    assert ev.evaluate({"lag": 300}, now=120) == []  # once
    assert ev.firing() == [("Lag", None)]
    resolved = ev.evaluate({"lag": 100}, now=130)  # at the threshold counts as fine
    assert [(e.state, e.value) for e in resolved] == [("resolved", 100.0)]
    assert ev.evaluate({"lag": 0}, now=140) == [] and ev.firing() == []


def test_a_dip_restarts_the_clock_without_events() -> None:
    ev = AlertEvaluator([AlertRule("Lag", "lag", 10, 30)])
    assert ev.evaluate({"lag": 20}, now=0) == []
    assert ev.evaluate({"lag": 5}, now=20) == []  # pending -> inactive, silently
    assert ev.evaluate({"lag": 20}, now=25) == []
    assert ev.evaluate({"lag": 20}, now=50) == []
    assert [e.state for e in ev.evaluate({"lag": 20}, now=55)] == ["firing"]


def test_zero_for_s_fires_immediately() -> None:
    ev = AlertEvaluator([AlertRule("Fail", "failure_rate", 0.2, 0, "critical")])
    events = ev.evaluate({"failure_rate": 0.5}, now=1)
    assert [(e.state, e.severity) for e in events] == [("firing", "critical")]
    assert "50% of finished jobs failing" in events[0].message


def test_missing_values_keep_the_state() -> None:
    ev = AlertEvaluator([AlertRule("Lag", "lag", 10, 0)])
    assert len(ev.evaluate({"lag": 11}, now=0)) == 1
    assert ev.evaluate({}, now=1) == [] and ev.evaluate({"lag": None}, now=2) == []
    assert ev.evaluate({"lag": float("nan")}, now=3) == []
    assert ev.firing() == [("Lag", None)]


def test_labelled_values_have_their_own_state() -> None:
    ev = AlertEvaluator([AlertRule("Slow", "stage_p95_s", 600, 10)])
    assert ev.evaluate({"stage_p95_s": {"extract": 700, "export": 100}}, now=0) == []
    events = ev.evaluate({"stage_p95_s": {"extract": 700, "export": 900}}, now=10)
    assert [(e.label, e.state) for e in events] == [("extract", "firing")]
    assert "Slow (extract)" in events[0].message
    events = ev.evaluate({"stage_p95_s": {"extract": 10, "export": 900}}, now=20)
    assert [(e.label, e.state) for e in events] == [("export", "firing"), ("extract", "resolved")]


def test_several_rules_are_independent() -> None:
    ev = AlertEvaluator(default_rules())
    values = {"lag": 1000, "failure_rate": 0.5, "stage_p95_s": 10}
    assert ev.evaluate(values, now=0) == []
    assert [e.name for e in ev.evaluate(values, now=300)] == ["HighConsumerLag"]
    assert [e.name for e in ev.evaluate(values, now=600)] == ["HighFailureRate"]


def test_default_rules_read_settings_like_values() -> None:
    rules = {r.name: r for r in default_rules()}
    assert rules["HighConsumerLag"].threshold == DEFAULTS["alert_lag"] == 100
    assert rules["HighFailureRate"].severity == "critical"
    custom = {r.name: r for r in default_rules(SimpleNamespace(alert_lag=5, alert_lag_for_s=1))}
    assert (custom["HighConsumerLag"].threshold, custom["HighConsumerLag"].for_s) == (5.0, 1.0)
    assert custom["StageSlow"].threshold == 600
    from_map = {r.name: r for r in default_rules({"alert_failure_rate": 0.5})}
    assert from_map["HighFailureRate"].threshold == 0.5


def test_rule_validation() -> None:
    with pytest.raises(ValueError):
        AlertRule("x", "cpu", 1, 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        AlertEvaluator([AlertRule("x", "lag", 1, 0), AlertRule("x", "lag", 2, 0)])
    assert AlertEvaluator([AlertRule("x", "lag", 1, 0)]).evaluate({"lag": 2}, now=0)[0].as_dict()["state"] == "firing"
