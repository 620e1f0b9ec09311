"""Integration: load samples on the metrics topic, optimizer decisions and alerts on the ops topic,
/metrics, and settings reloaded on SIGHUP without a restart."""

from __future__ import annotations

import asyncio
import itertools
import signal
import urllib.request
from pathlib import Path

import orjson
import pytest

from streamapp.events import validate
from streamapp.ops.optimizer import slots_within_budget
from tests.app.test_recovery import follow_jobs, fresh_videos, new_worker
from tests.app.test_worker import read_topic

pytestmark = [pytest.mark.integration, pytest.mark.consumer_groups]  # workers of their own


def test_backlog_grows_the_pool_and_raises_an_alert(stack_env, bootstrap, topics, tmp_path: Path) -> None:
    from streamapp.client import submission

    worker = new_worker(stack_env, tmp_path, "ops", STREAMAPP_POOL_SIZE="1", STREAMAPP_POOL_MIN_SIZE="1",
                        STREAMAPP_POOL_MAX_SIZE="3", STREAMAPP_METRICS_INTERVAL_S="0.5",
                        STREAMAPP_OPTIMIZER_HYSTERESIS="1", STREAMAPP_OPTIMIZER_COOLDOWN_S="0",
                        STREAMAPP_OPTIMIZER_CPU_HEADROOM_PERCENT="100", STREAMAPP_ALERT_LAG="1",
                        STREAMAPP_ALERT_LAG_FOR_S="0")
    try:
        jobs = [submission(path, tmp_path, options={"max_clips": 1, "min_duration_s": 5, "max_duration_s": 8})
                for path in fresh_videos(tmp_path, 4)]
        outcomes, _ = asyncio.run(follow_jobs(bootstrap, topics, jobs))
        assert all(o.state == "done" for o in outcomes.values())
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics", timeout=5) as response:
            exposition = response.read().decode()
    finally:
        worker.stop()
    ops = [validate(orjson.loads(m.value)) for m in asyncio.run(read_topic(bootstrap, topics.ops, 1000, 5))]
    grows = [e for e in ops if e["type"] == "pool_decision" and e["rule"] == "backlog_growing"]
    assert grows and grows[0]["pool_size_from"] == 1 and grows[0]["pool_size_to"] == 2 and grows[0]["reason"]
    assert all(1 <= e["pool_size_to"] <= 3 for e in ops if e["type"] == "pool_decision")
    alerts = [e for e in ops if e["type"] == "alert" and e["name"] == "HighConsumerLag"]
    assert alerts and alerts[0]["state"] == "firing"
    samples = [validate(orjson.loads(m.value)) for m in asyncio.run(read_topic(bootstrap, topics.metrics, 5, 5))]
    assert samples and all(s["type"] == "metrics_sample" for s in samples)
    assert 'streamapp_pool_decisions_total{rule="backlog_growing"}' in exposition
    assert "streamapp_stage_duration_seconds_bucket" in exposition


def test_a_memory_budget_holds_the_pool_to_what_fits(stack_env, bootstrap, topics, tmp_path: Path) -> None:
    from streamapp.client import submission

    # 900 MiB: the main process and one pool process at a render's expected peak (700 MiB), not two
    worker = new_worker(stack_env, tmp_path, "budget", STREAMAPP_POOL_SIZE="3", STREAMAPP_POOL_MIN_SIZE="1",
                        STREAMAPP_POOL_MAX_SIZE="3", STREAMAPP_MEMORY_BUDGET_MB="900",
                        STREAMAPP_METRICS_INTERVAL_S="0.5", STREAMAPP_OPTIMIZER_HYSTERESIS="1",
                        STREAMAPP_OPTIMIZER_COOLDOWN_S="0", STREAMAPP_OPTIMIZER_CPU_HEADROOM_PERCENT="100")
    try:
        jobs = [submission(path, tmp_path, options={"max_clips": 1, "min_duration_s": 5, "max_duration_s": 8})
                for path in fresh_videos(tmp_path, 3)]
        outcomes, _ = asyncio.run(follow_jobs(bootstrap, topics, jobs))
        assert all(o.state == "done" for o in outcomes.values())
    finally:
        worker.stop()
    samples = [validate(orjson.loads(m.value)) for m in asyncio.run(read_topic(bootstrap, topics.metrics, 1000, 5))]
    mine = [s for s in samples if s["worker_id"].endswith(f"-{worker.process.pid}")]
    assert mine and mine[0]["pool_size"] == 1  # pool_size 3 asked for, one fits at a render's expected peak
    for before, after in itertools.pairwise(mine):  # no size beyond what the peaks measured before it allow
        assert after["pool_size"] <= slots_within_budget(900 * 1024 * 1024, before["main_rss_bytes"],
                                                         before["process_peak_bytes"])
    assert max(s["process_peak_bytes"] for s in mine) > 100 * 1024 * 1024  # pool processes' peaks, measured
    assert all(0 < s["main_rss_bytes"] < 900 * 1024 * 1024 for s in mine)


def test_sighup_reloads_safe_settings_without_a_restart(stack_env, bootstrap, topics, tmp_path: Path) -> None:
    from streamapp.client import submission

    config = tmp_path / "streamapp.toml"
    config.write_text("max_clips = 3\n")
    worker = new_worker(stack_env, tmp_path, "reload", STREAMAPP_CONFIG=str(config))
    options = {"min_duration_s": 5, "max_duration_s": 6}
    try:
        video = fresh_videos(tmp_path, 1)[0]
        before, _ = asyncio.run(follow_jobs(bootstrap, topics, [submission(video, tmp_path, options=options)]))
        config.write_text("max_clips = 1\nanalysis_height = 96\n")  # one safe change, one that needs a restart
        worker.process.send_signal(signal.SIGHUP)
        asyncio.run(asyncio.sleep(2.5))
        after, _ = asyncio.run(follow_jobs(bootstrap, topics, [submission(video, tmp_path, options=options)]))
        assert worker.alive()
    finally:
        worker.stop()
    assert len(next(iter(before.values())).manifest["clips"]) == 3
    assert len(next(iter(after.values())).manifest["clips"]) == 1
    log = worker.log_path.read_text()
    assert "max_clips 3 -> 1" in log
    assert "analysis_height" in log and "restart" in log  # logged, not applied
