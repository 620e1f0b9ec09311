"""Integration: load samples on the metrics topic, optimizer decisions and alerts on the ops topic,
/metrics, and settings reloaded on SIGHUP without a restart."""

from __future__ import annotations

import asyncio
import signal
import threading
import urllib.request
from pathlib import Path

import orjson
import psutil
import pytest

from streamapp.events import validate
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

    # 1100 MiB: the main process and one pool process at a render's expected peak (700 MiB), not two
    worker = new_worker(stack_env, tmp_path, "budget", STREAMAPP_POOL_SIZE="3", STREAMAPP_POOL_MIN_SIZE="1",
                        STREAMAPP_POOL_MAX_SIZE="3", STREAMAPP_MEMORY_BUDGET_MB="1100",
                        STREAMAPP_METRICS_INTERVAL_S="0.5", STREAMAPP_OPTIMIZER_HYSTERESIS="1",
                        STREAMAPP_OPTIMIZER_COOLDOWN_S="0", STREAMAPP_OPTIMIZER_CPU_HEADROOM_PERCENT="100")
    tree = TreeMemory(worker.process.pid)
    tree.start()
    try:
        jobs = [submission(path, tmp_path, options={"max_clips": 2, "min_duration_s": 5, "max_duration_s": 8})
                for path in fresh_videos(tmp_path, 3)]
        outcomes, _ = asyncio.run(follow_jobs(bootstrap, topics, jobs))
        assert all(o.state == "done" for o in outcomes.values())
    finally:
        tree.stop.set()
        worker.stop()
    samples = [validate(orjson.loads(m.value)) for m in asyncio.run(read_topic(bootstrap, topics.metrics, 1000, 5))]
    mine = [s for s in samples if s["worker_id"].endswith(f"-{worker.process.pid}")]
    # A backlog of three jobs of two clips each and a CPU the optimizer may ignore: without the budget it grows
    # the pool (the test above); with it the pool keeps the one process that fits.
    assert mine and all(s["pool_size"] == 1 for s in mine)
    assert any(sum(s["stage_lag"].values()) > 0 for s in mine)
    assert max(s["process_peak_bytes"] for s in mine) > 100 * 1024 * 1024  # pool processes' peaks, measured
    assert tree.pool_processes_seen == 1 and 0 < tree.peak_bytes <= 1100 * 1024 * 1024


class TreeMemory(threading.Thread):
    """The resident memory of a process and its children (the resource tracker aside), and the most pool processes
    among them at once, sampled every 0.2 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.stop = threading.Event()
        self.peak_bytes = 0
        self.pool_processes_seen = 0

    def run(self) -> None:
        while not self.stop.wait(0.2):
            try:
                procs = [self.root, *(p for p in self.root.children(recursive=True)
                                      if "resource_tracker" not in " ".join(p.cmdline()))]
                total = sum(p.memory_info().rss for p in procs)
                pool = sum("spawn_main" in " ".join(p.cmdline()) for p in procs)
            except psutil.Error:
                continue
            self.peak_bytes = max(self.peak_bytes, total)
            self.pool_processes_seen = max(self.pool_processes_seen, pool)


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
