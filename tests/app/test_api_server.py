"""Integration: `streamapp api` as its own process beside a worker: submit over HTTP, follow, download."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from streamapp.transport.embedded import free_port, wait_for_port
from tests.conftest import wait_until
from tests.videos import make_test_video

pytestmark = pytest.mark.integration
TOKEN = "s3cret"


def call(port: int, path: str, body: dict | None = None, token: str | None = TOKEN) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST" if body else "GET",
                                     data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_api_process_submits_and_serves_results(worker, stack_env, tmp_path: Path) -> None:
    port = free_port()
    log = open(tmp_path / "api.log", "wb")  # noqa: SIM115
    api = subprocess.Popen([sys.executable, "-m", "streamapp", "api"], stdout=log, stderr=subprocess.STDOUT,
                           env={**stack_env, "STREAMAPP_WEB_PORT": str(port), "STREAMAPP_API_TOKEN": TOKEN,
                                "STREAMAPP_DATA_DIR": stack_env["STREAMAPP_DATA_DIR"]})
    try:
        assert wait_for_port("127.0.0.1", port, 30), (tmp_path / "api.log").read_text()
        assert call(port, "/api/jobs", token=None)[0] == 401
        video = tmp_path / "talk.mp4"
        make_test_video(video, duration_s=12.0, cuts_s=(6.0,), silences=(), burst=(7.0, 9.0), seed=21)
        status, body = call(port, "/api/jobs", {"path": str(video), "options": {"max_clips": 1,
                            "min_duration_s": 4, "max_duration_s": 6}, "priority": "high"})
        assert status in (200, 201, 202), body
        job_id = json.loads(body)["job_id"]

        def state() -> str | None:
            code, payload = call(port, f"/api/jobs/{job_id}")
            return json.loads(payload)["state"] if code == 200 else None

        assert wait_until(lambda: state() in ("done", "failed"), 120)
        assert state() == "done"
        status, body = call(port, f"/api/jobs/{job_id}/manifest")
        manifest = json.loads(body)
        assert status == 200 and len(manifest["clips"]) == 1
        status, clip = call(port, f"/api/jobs/{job_id}/files/{manifest['clips'][0]['file']}")
        assert status == 200 and clip[4:8] == b"ftyp"
        assert call(port, f"/api/jobs/{job_id}/files/..%2Fsecret")[0] in (400, 404)
        status, body = call(port, "/api/jobs", {"path": str(tmp_path / "nope.mp4")})
        assert status == 400 and json.loads(body)["error"]["code"] == "input_missing"
        # Probes for the operator, without a token: health of the read model and Prometheus metrics.
        status, body = call(port, "/healthz", token=None)
        assert status == 200 and json.loads(body)["ok"] is True and json.loads(body)["jobs"] >= 1
        status, body = call(port, "/metrics", token=None)
        assert status == 200 and b'streamapp_jobs{state="done"} 1.0' in body
        # A token given in the query (as <video> sources do) never reaches the access log.
        assert call(port, f"/api/jobs/{job_id}?token={TOKEN}", token=None)[0] == 200
    finally:
        api.terminate()
        api.wait(timeout=10)
        log.close()
    logged = (tmp_path / "api.log").read_text()
    assert f"/api/jobs/{job_id}?token=" in logged and TOKEN not in logged


def test_api_refuses_to_listen_beyond_loopback_without_a_token(stack_env) -> None:
    result = subprocess.run([sys.executable, "-m", "streamapp", "api"], capture_output=True, text=True, timeout=60,
                            env={**stack_env, "STREAMAPP_WEB_HOST": "0.0.0.0", "STREAMAPP_WEB_PORT": str(free_port())})
    assert result.returncode == 2 and "STREAMAPP_API_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_job_submitted_here_is_answered_for_until_the_log_has_it(tmp_path, monkeypatch) -> None:
    """Read-your-writes for the API's clients, and no queued ghost once the log has the job or it is long gone."""
    import asyncio

    from streamapp.app import service as service_module
    from streamapp.app.service import WorkerJobService
    from streamapp.settings import Settings

    video = tmp_path / "talk.mp4"
    video.write_bytes(b"x")
    table: dict = {}
    sent: list = []

    async def submit(event) -> None:  # noqa: ANN001
        sent.append(event)

    service = WorkerJobService(Settings(data_dir=tmp_path / "data"), lambda: list(table.values()), table.get, submit)

    async def scenario() -> None:
        job = await service.submit(str(video), {}, "normal", name="My talk.mp4")
        job_id = job["job_id"]
        assert (await service.get_job(job_id))["state"] == "queued"
        assert [j["job_id"] for j in await service.list_jobs()] == [job_id]
        table[job_id] = {**job, "state": "done"}  # the log has it now: its answer wins
        assert (await service.get_job(job_id))["state"] == "done"
        del table[job_id]  # expired: no queued ghost comes back
        assert await service.get_job(job_id) is None
        other = await service.submit(str(video), {}, "low")
        monkeypatch.setattr(service_module, "PENDING_TTL_S", -1.0)  # never taken in, long ago
        assert await service.get_job(other["job_id"]) is None and await service.list_jobs() == []

    asyncio.run(scenario())
    assert sent[0]["request"]["name"] == "My talk.mp4"
