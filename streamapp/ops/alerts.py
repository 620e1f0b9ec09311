"""In-process alerts: pure rules and a state machine, for workers run without Prometheus.

A rule fires once when its metric stays above the threshold for ``for_s`` seconds, and resolves once
when it drops back to or below the threshold:

    inactive --above--> pending --above for for_s--> firing --at or below--> inactive (+ "resolved")
    pending --at or below--> inactive (nothing was announced, nothing is)

A metric value may be a number or a mapping label -> number (e.g. p95 per stage); each label has its
own state. A missing value (absent, None or NaN) leaves the state as it is: no data is no news.
The defaults mirror docker/alert-rules.yml.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Metric = Literal["lag", "failure_rate", "stage_p95_s"]
Severity = Literal["info", "warning", "critical"]
METRICS = ("lag", "failure_rate", "stage_p95_s")

# settings attribute -> default
DEFAULTS: dict[str, float] = {
    "alert_lag": 100.0,               # messages waiting, all topics
    "alert_lag_for_s": 300.0,
    "alert_failure_rate": 0.2,        # failed / finished jobs over the recent window
    "alert_failure_rate_for_s": 600.0,
    "alert_stage_p95_s": 600.0,       # 95th percentile duration of a stage
    "alert_stage_p95_for_s": 600.0,
}


@dataclass(frozen=True)
class AlertRule:
    name: str
    metric: Metric
    threshold: float
    for_s: float
    severity: Severity = "warning"

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"unknown metric {self.metric!r}; one of {', '.join(METRICS)}")
        if self.for_s < 0:
            raise ValueError("for_s must be >= 0")


@dataclass(frozen=True)
class AlertEvent:
    name: str
    state: Literal["firing", "resolved"]
    value: float
    threshold: float
    severity: str
    message: str
    at: float
    label: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "value": self.value, "threshold": self.threshold,
                "severity": self.severity, "message": self.message, "at": self.at, "label": self.label}


def _setting(values: Any, name: str) -> float:
    if values is None:
        return DEFAULTS[name]
    found = values.get(name) if isinstance(values, Mapping) else getattr(values, name, None)
    return DEFAULTS[name] if found is None else float(found)


def default_rules(values: Any = None) -> list[AlertRule]:
    """The standard rules; thresholds from a Settings-like object or mapping (attributes ``alert_lag``,
    ``alert_lag_for_s``, ``alert_failure_rate``, ``alert_failure_rate_for_s``, ``alert_stage_p95_s``,
    ``alert_stage_p95_for_s``), each falling back to ``DEFAULTS``."""
    return [
        AlertRule("HighConsumerLag", "lag", _setting(values, "alert_lag"), _setting(values, "alert_lag_for_s"),
                  "warning"),
        AlertRule("HighFailureRate", "failure_rate", _setting(values, "alert_failure_rate"),
                  _setting(values, "alert_failure_rate_for_s"), "critical"),
        AlertRule("StageSlow", "stage_p95_s", _setting(values, "alert_stage_p95_s"),
                  _setting(values, "alert_stage_p95_for_s"), "warning"),
    ]


_DESCRIBE = {
    "lag": lambda v: f"{v:.0f} messages waiting",
    "failure_rate": lambda v: f"{v:.0%} of finished jobs failing",
    "stage_p95_s": lambda v: f"p95 stage duration {v:.1f} s",
}


@dataclass
class _State:
    above_since: float | None = None
    firing: bool = False


class AlertEvaluator:
    """Holds each rule's state between calls; ``evaluate`` answers only the changes (fired, resolved)."""

    def __init__(self, rules: list[AlertRule]) -> None:
        names = [r.name for r in rules]
        if len(set(names)) != len(names):
            raise ValueError("alert rule names must be unique")
        self.rules = list(rules)
        self._states: dict[tuple[str, str | None], _State] = {}

    def firing(self) -> list[tuple[str, str | None]]:
        """(rule name, label) of every alert firing now."""
        return sorted((key for key, state in self._states.items() if state.firing), key=lambda k: (k[0], k[1] or ""))

    def evaluate(self, values: Mapping[str, Any], now: float) -> list[AlertEvent]:
        events: list[AlertEvent] = []
        for rule in self.rules:
            value = values.get(rule.metric)
            if isinstance(value, Mapping):
                for label, item in sorted(value.items()):
                    events += self._step(rule, str(label), item, now)
            else:
                events += self._step(rule, None, value, now)
        return events

    def _step(self, rule: AlertRule, label: str | None, raw: Any, now: float) -> list[AlertEvent]:
        if raw is None:
            return []
        value = float(raw)
        if math.isnan(value):
            return []
        state = self._states.setdefault((rule.name, label), _State())
        if value > rule.threshold:
            if state.above_since is None:
                state.above_since = now
            if not state.firing and now - state.above_since >= rule.for_s:
                state.firing = True
                return [self._event(rule, label, "firing", value, now, now - state.above_since)]
            return []
        was_firing = state.firing
        state.above_since, state.firing = None, False
        return [self._event(rule, label, "resolved", value, now, 0.0)] if was_firing else []

    @staticmethod
    def _event(rule: AlertRule, label: str | None, kind: Literal["firing", "resolved"], value: float, now: float,
               held_s: float) -> AlertEvent:
        what = _DESCRIBE[rule.metric](value)
        where = f" ({label})" if label else ""
        if kind == "firing":
            message = f"{rule.name}{where}: {what}, above {rule.threshold:g} for {held_s:.0f} s"
        else:
            message = f"{rule.name}{where} resolved: {what}, at or below {rule.threshold:g}"
        return AlertEvent(name=rule.name, state=kind, value=value, threshold=rule.threshold, severity=rule.severity,
                          message=message, at=now, label=label)
