"""Integration: schemathesis (every check, the stateful phase included) against a live `streamapp api` on the
test broker. Its jobs land in this module's own topics (stack_env's prefix), where no worker runs them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import orjson
import pytest

from streamapp.processes import die_with_parent
from streamapp.transport.embedded import free_port, wait_for_port
from tests.videos import make_test_video

pytestmark = pytest.mark.integration

CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture(scope="module")
def api_server(stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory):
    inputs = tmp_path_factory.mktemp("inputs")
    make_test_video(inputs / "talk.mp4", duration_s=6.0, cuts_s=(3.0,), silences=(), burst=None)
    port = free_port()
    env = {**stack_env, "STREAMAPP_WEB_PORT": str(port), "STREAMAPP_INPUT_ROOTS": orjson.dumps([str(inputs)]).decode()}
    log = open(tmp_path_factory.mktemp("logs") / "api.log", "ab")  # noqa: SIM115
    process = subprocess.Popen([sys.executable, "-m", "streamapp", "api"], env=env, stdout=log,
                               stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    try:
        assert wait_for_port("127.0.0.1", port, 60)
        yield f"http://127.0.0.1:{port}", inputs
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def test_schemathesis_finds_nothing(api_server, tmp_path) -> None:
    url, inputs = api_server
    st = shutil.which("st", path=os.path.dirname(sys.executable)) or "st"
    run = subprocess.run(
        [st, "--config-file", str(CONFIG), "run", f"{url}/api/openapi.json", "--checks", "all",
         "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", "25", "--seed", "20261129",
         "--max-failures", "20"],
        capture_output=True, text=True, timeout=900, cwd=tmp_path)
    (tmp_path / "schemathesis.txt").write_text(run.stdout)
    failures = run.stdout.find("FAILURES")
    assert run.returncode == 0, run.stdout[failures:failures + 6000] if failures >= 0 else run.stdout[-6000:]
    assert "Stateful" in run.stdout
    # Refused uploads leave no file behind: every upload kept belongs to a job.
    with urllib.request.urlopen(f"{url}/api/jobs?limit=1000", timeout=10) as response:
        jobs = orjson.loads(response.read())["jobs"]
    uploads = inputs / "uploads"
    kept = {str(p) for p in uploads.iterdir()} if uploads.is_dir() else set()
    assert kept and kept <= {j["path"] for j in jobs}
