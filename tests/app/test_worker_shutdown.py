"""Integration: a worker whose broker has gone away still stops on SIGTERM, within its grace period, takes its
pool processes with it, and reports the lost broker a few times rather than hundreds of times a second."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from streamapp.transport.embedded import EmbeddedBroker, free_port
from tests.conftest import WorkerProcess
from tests.test_cli_interrupt import _descendants_of_run, _wait_for

pytestmark = pytest.mark.integration

GRACE_S = 5.0


def test_a_worker_without_its_broker_stops_within_its_grace_period(redis_url, tmp_path: Path) -> None:
    broker = EmbeddedBroker(log_path=tmp_path / "broker.log").start()
    data_dir = str(tmp_path / "data")
    env = {**os.environ, "STREAMAPP_BROKER": broker.url, "STREAMAPP_REDIS_URL": redis_url,
           "STREAMAPP_DATA_DIR": data_dir, "STREAMAPP_WEB_PORT": str(free_port()),
           "STREAMAPP_SHUTDOWN_GRACE_S": str(GRACE_S), "STREAMAPP_SESSION_TIMEOUT_S": "3",
           "STREAMAPP_HEARTBEAT_INTERVAL_S": "0.5", "STREAMAPP_REBALANCE_TIMEOUT_S": "3"}
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        worker.start()
        assert _wait_for(lambda: "Worker]: Ready" in worker.log_path.read_text(errors="replace"), 60), worker.log()
        broker.stop()  # the broker goes away under a running worker
        time.sleep(12.0)  # long enough for aiokafka's reconnect attempts to pile up
        assert worker.alive()
        assert worker.process is not None
        stopping = time.monotonic()
        worker.process.terminate()
        worker.process.wait(timeout=GRACE_S + 20)
        took = time.monotonic() - stopping
    finally:
        worker.kill()
        broker.stop()
    assert took < GRACE_S + 20
    assert _wait_for(lambda: not _descendants_of_run(data_dir), 10), "pool processes outlived their worker"
    unable = [line for line in worker.log_path.read_text(errors="replace").splitlines() if "Unable connect" in line]
    assert 0 < len(unable) <= 20, f"{len(unable)} 'Unable connect' lines in ~{12 + took:.0f} s"
