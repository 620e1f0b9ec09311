"""Integration: docs/producers.md holds with a client streamapp does not use. The confluent-kafka (librdkafka)
examples in docs/examples submit, cancel and read results through a real broker and a real worker."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from confluent_kafka import Producer

from streamapp.transport.topics import PRIORITY_PARTITIONS, Topics, job_partition
from tests.videos import make_test_video

pytestmark = pytest.mark.integration

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "producers.md"
EXAMPLES = GUIDE.parent / "examples"
OPTIONS = {"max_clips": 1, "min_duration_s": 5.0, "max_duration_s": 10.0}


def example(name: str, *args: str, timeout_s: float = 240) -> list[str]:
    run = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True,
                         timeout=timeout_s)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout.splitlines()


def test_the_guide_names_every_topic_with_the_default_prefix() -> None:
    named = set(re.findall(r"`(streamapp\.[a-z-]+)`", GUIDE.read_text()))
    topics = {spec.name for spec in Topics().specs()} - {Topics().jobs_changelog}
    assert named == topics
    assert "high` 0, `normal` 1, `low` 2" in GUIDE.read_text()
    assert PRIORITY_PARTITIONS == {"high": 0, "normal": 1, "low": 2}


def test_confluent_kafka_submits_cancels_and_reads_results(worker, bootstrap, topics, tmp_path) -> None:
    short, long = tmp_path / "short.mp4", tmp_path / "long.mp4"
    make_test_video(short, duration_s=20.0, cuts_s=(6.0, 13.0), silences=((9.0, 10.0),), burst=(14.0, 17.0))
    make_test_video(long, duration_s=240.0, size=(160, 90), cuts_s=tuple(float(t) for t in range(20, 240, 30)),
                    silences=(), burst=(100.0, 110.0))
    common = ["--bootstrap", bootstrap, "--prefix", topics.prefix]
    out = tmp_path / "clips"

    # A job to the end: its clip, then its end, each once.
    [done_id] = example("produce.py", *common, "--out", str(out), "--options", json.dumps(OPTIONS), str(short))
    lines = [json.loads(line) for line in example("consume.py", *common, "--group", "guide-1", done_id)]
    assert [e["type"] for e in lines] == ["clip_ready", "job_done"], lines
    assert (out / done_id / lines[0]["clip"]["file"]).stat().st_size > 0
    assert Path(lines[1]["manifest_path"]).is_file()

    # Two long jobs cancelled: one as the guide says, one on a wrong partition (librdkafka's default
    # partitioner), which the worker forwards to the job's own.
    running = example("produce.py", *common, "--out", str(out), "--priority", "high", str(long), str(long))
    producer = Producer({"bootstrap.servers": bootstrap})
    time.sleep(2.0)  # both under way
    example("cancel.py", *common, "--reason", "guide", running[0])
    home = job_partition(running[1], topics.job_partitions)
    wrong = (home + 1) % topics.job_partitions
    producer.produce(topics.job_status, json.dumps({"schema_version": 1, "type": "job_cancel", "job_id": running[1],
                                                    "at": time.time()}).encode(),
                     key=running[1].encode(), partition=wrong)
    # A submission on another partition than its priority's, and one with a relative path.
    mismatched = {"schema_version": 1, "type": "video_submitted", "job_id": "guide-mismatch", "submitted_at": 1.0,
                  "request": {"path": str(short), "options": OPTIONS, "priority": "high", "out_dir": str(out)}}
    relative = {**mismatched, "job_id": "guide-relative",
                "request": {**mismatched["request"], "path": "short.mp4", "priority": "normal"}}
    producer.produce(topics.videos, json.dumps(mismatched).encode(), key=b"guide-mismatch", partition=2)
    producer.produce(topics.videos, json.dumps(relative).encode(), key=b"guide-relative", partition=1)
    assert producer.flush(30) == 0

    ends = [json.loads(line) for line in example("consume.py", *common, "--group", "guide-2", *running,
                                                  "guide-mismatch", "guide-relative")]
    by_job = {e["job_id"]: e for e in ends if e["type"] in ("job_done", "job_failed")}
    assert by_job[running[0]]["error"] == {"code": "cancelled", "message": "cancelled on request: guide"}
    assert by_job[running[1]]["error"]["code"] == "cancelled"
    assert by_job["guide-mismatch"]["type"] == "job_done"  # taken all the same, and counted
    assert by_job["guide-relative"]["error"]["code"] == "input_path_relative"
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics", timeout=10) as response:
        metrics = response.read().decode()
    assert 'streamapp_priority_partition_mismatches_total{partition="2",priority="high"} 1.0' in metrics
