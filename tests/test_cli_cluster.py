"""`streamapp submit` and `streamapp status` against a running worker on the test broker."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import wait_until
from tests.videos import make_test_video

pytestmark = pytest.mark.integration


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streamapp", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_submit_then_status_until_done(worker, stack_env, tmp_path) -> None:
    video = tmp_path / "clip.mp4"
    make_test_video(video, duration_s=10.0, cuts_s=(5.0,), silences=(), burst=(6.0, 8.0), seed=31)
    result = cli(["submit", str(video), "--out", str(tmp_path), "--max-clips", "1", "--min-duration", "4",
                  "--max-duration", "6", "--priority", "high", "--json"], stack_env)
    assert result.returncode == 0, result.stderr
    [submitted] = json.loads(result.stdout)
    job_id = submitted["job_id"]
    assert submitted["path"] == str(video)

    def state() -> str:
        return cli(["status", job_id], stack_env).stdout

    assert wait_until(lambda: ": done" in state(), 120, 1.0), state()
    assert (tmp_path / job_id / "manifest.json").is_file()
    unknown = cli(["status", "no-such-job"], {**stack_env, "STREAMAPP_WEB_PORT": stack_env["STREAMAPP_WEB_PORT"]})
    assert unknown.returncode == 1 and "no job no-such-job" in unknown.stderr

    # The clip edited from the command line: rendered again by the worker, the manifest pointing at version 2.
    manifest = json.loads((tmp_path / job_id / "manifest.json").read_text())
    clip = manifest["clips"][0]
    edited = cli(["edit", job_id, clip["id"], "--end", f"{clip['start_s'] + 4.5:.2f}", "--layout", "fit", "--wait",
                  "120", "--json"], stack_env)
    assert edited.returncode == 0, edited.stdout + edited.stderr
    answer = json.loads(edited.stdout)
    assert answer["state"] == "done" and answer["version"] == 2 and (tmp_path / job_id / answer["file"]).is_file()
    after = json.loads((tmp_path / job_id / "manifest.json").read_text())["clips"][0]
    assert after["version"] == 2 and after["layout"] == "fit" and after["file"] == answer["file"]
    assert not (tmp_path / job_id / clip["file"]).exists()  # the old version's file is gone
    # Refused: by the worker (no such clip), by the command (a malformed fix), and an unknown job.
    missing = cli(["edit", job_id, f"{job_id}-09", "--wait", "120"], stack_env)
    assert missing.returncode == 1 and "clip_unknown" in missing.stdout, missing.stdout + missing.stderr
    malformed = cli(["edit", job_id, clip["id"], "--fix", "hello"], stack_env)
    assert malformed.returncode == 2 and "TIME=TEXT" in malformed.stderr and "Traceback" not in malformed.stderr
    nobody = cli(["edit", "no-such-job", "x-01", "--wait", "0"], stack_env)
    assert nobody.returncode == 1 and "no job no-such-job" in nobody.stderr
