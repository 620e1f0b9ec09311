"""Ctrl-C and SIGTERM of `streamapp process`: it stops its worker and broker and leaves no half files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.videos import make_test_video

pytestmark = pytest.mark.integration


def _descendants_of_run(data_dir: str) -> list[int]:
    """Live processes (not zombies) started for this run: they carry its STREAMAPP_DATA_DIR."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().split(") ")[1][0]
        except OSError:
            continue
        if f"STREAMAPP_DATA_DIR={data_dir}".encode() in environ and state != "Z":
            found.append(int(entry.name))
    return found


def _wait_for(predicate, limit_s: float) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Long enough that its job is still running seconds after the worker starts, on a busy machine too.
    path = tmp_path_factory.mktemp("media") / "long.mp4"
    make_test_video(path, duration_s=150.0, cuts_s=tuple(float(t) for t in range(8, 150, 8)), seed=5)
    return path


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_process_stops_its_children_and_leaves_no_half_files(redis_url, tmp_path, video, sig):
    data_dir = str(tmp_path / "data")
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "STREAMAPP_BROKER"}
    env.update({"STREAMAPP_REDIS_URL": redis_url, "STREAMAPP_DATA_DIR": data_dir})
    # SIGINT back to its default in the child: a suite started in the background by a non-interactive shell
    # (`cmd &`) has SIGINT ignored, which children inherit, and Python then leaves Ctrl-C ignored (three
    # suite runs failed so, `process` finishing its job with exit 0).
    run = subprocess.Popen([sys.executable, "-m", "streamapp", "process", str(video), "--out", str(out)],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        # Interrupt once the local worker is up and working on the job (its log has grown).
        logs = Path(data_dir) / "logs"
        assert _wait_for(lambda: any(p.stat().st_size > 0 for p in logs.glob("worker-*.log")), 120)
        time.sleep(3.0)
        assert run.poll() is None, "the job finished before it could be interrupted"
        run.send_signal(sig)
        stdout, stderr = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    assert "interrupted" in stdout + stderr
    assert _wait_for(lambda: not _descendants_of_run(data_dir), 10), "worker or broker outlived the command"
    assert not list(out.rglob("*.part*")) if out.exists() else True
