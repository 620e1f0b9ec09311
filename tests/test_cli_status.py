"""`streamapp status`: a terminal event in the log wins over a lagging job table; bad and unknown ids are
one-line answers."""

from __future__ import annotations

import asyncio
import http.server
import subprocess
import sys
import threading

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from streamapp.events import status_event
from streamapp.transport.admin import ensure_topics

pytestmark = pytest.mark.integration


def _status(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streamapp", "status", *args], env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture(scope="module")
def created(stack_env, topics, bootstrap) -> None:
    asyncio.run(ensure_topics(bootstrap, topics.specs()))


async def _publish(bootstrap: str, topic: str, events: list[dict]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(topic, orjson.dumps(event), key=event["job_id"].encode())
    finally:
        await producer.stop()


class _StaleTable(http.server.BaseHTTPRequestHandler):
    """A worker's job table that has not caught up: it still says exporting."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = orjson.dumps({"job_id": self.path.rsplit("/", 1)[-1], "state": "exporting", "stage": "export",
                             "progress": 0.5, "error": None})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_terminal_event_wins_over_a_stale_table(stack_env, topics, bootstrap, created):
    job_id = "stale0table0done"
    asyncio.run(_publish(bootstrap, topics.job_status, [
        status_event(job_id, "exporting", "export", progress=0.5),
        status_event(job_id, "done", "export", progress=1.0),
    ]))
    server = http.server.HTTPServer(("127.0.0.1", int(stack_env["STREAMAPP_WEB_PORT"])), _StaleTable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = _status([job_id], stack_env)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(f"{job_id}: done"), result.stdout


def test_unknown_and_malformed_ids_are_one_line(stack_env, created):
    unknown = _status(["no-such-job-here"], stack_env)
    assert unknown.returncode == 1 and "no job" in unknown.stderr + unknown.stdout
    bad = _status(["bad id!"], stack_env)
    assert bad.returncode == 1
    lines = [line for line in (bad.stdout + bad.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and "no job" in lines[0] and "Traceback" not in bad.stderr
