"""Test harness: a real Kafka-protocol broker and a real Redis for integration tests.

Broker: STREAMAPP_TEST_BROKER (kafka://host:port) if set; else testcontainers' Kafka when a Docker
engine answers; else the embedded Tansu broker. Redis: REDIS_URL (default redis://127.0.0.1:6379);
when nothing answers there, a redis-server of our own on a free port. Never a fake of either.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis

from streamapp.processes import die_with_parent
from streamapp.transport.embedded import EmbeddedBroker, free_port, wait_for_port
from streamapp.transport.topics import Topics

if TYPE_CHECKING:
    from aiokafka import TopicPartition


@functools.cache
def _docker_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def broker_url() -> Iterator[str]:
    if os.environ.get("STREAMAPP_TEST_BROKER"):
        yield os.environ["STREAMAPP_TEST_BROKER"]
    elif _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer() as kafka:
            yield "kafka://" + kafka.get_bootstrap_server()
    else:
        with EmbeddedBroker(log_path=Path(tempfile.gettempdir()) / "streamapp-test-broker.log") as broker:
            yield broker.url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        yield url
        return
    except redis.RedisError:
        pass
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("no Redis answers at REDIS_URL and redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for_port("127.0.0.1", port, 10), "redis-server did not start"
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


class WorkerProcess:
    """A real ``streamapp worker`` process with its own topics, data dir and web port."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.web_port = int(env["STREAMAPP_WEB_PORT"])
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115
        # A killed test run leaves no worker behind. Only from the main thread: the kernel's parent-death signal
        # follows the thread that started the child, and a harness starting workers from asyncio.to_thread
        # would see them SIGTERMed when that thread ends.
        on_main = threading.current_thread() is threading.main_thread()
        self.process = subprocess.Popen([sys.executable, "-m", "streamapp", "worker"], env=self.env,
                                        stdout=log, stderr=subprocess.STDOUT,
                                        preexec_fn=die_with_parent if on_main else None)
        assert wait_for_port("127.0.0.1", self.web_port, 60), self.log()
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, no final commit."""
        if self.alive():
            assert self.process is not None
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def stack_env(broker_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for a worker and clients: its own topic prefix per module, small outputs for speed."""
    name = uuid.uuid4().hex[:8]
    data_dir = tmp_path_factory.mktemp("data")
    return {
        **os.environ,
        "STREAMAPP_BROKER": broker_url,
        "STREAMAPP_REDIS_URL": redis_url,
        "STREAMAPP_DATA_DIR": str(data_dir),
        "STREAMAPP_TOPIC_PREFIX": f"t{name}",
        "STREAMAPP_APP_ID": f"streamapp-t{name}",
        "STREAMAPP_WEB_PORT": str(free_port()),
        "STREAMAPP_OUTPUT_LONG_SIDE": "320",
        "STREAMAPP_POOL_SIZE": "2",
        # Short group timings: a restarted or surviving worker takes partitions over within seconds.
        "STREAMAPP_SESSION_TIMEOUT_S": "3",
        "STREAMAPP_HEARTBEAT_INTERVAL_S": "0.5",
        "STREAMAPP_REBALANCE_TIMEOUT_S": "3",
    }


@pytest.fixture(scope="module")
def topics(stack_env: dict[str, str]) -> Topics:
    return Topics(stack_env["STREAMAPP_TOPIC_PREFIX"], stack_env["STREAMAPP_APP_ID"])


@pytest.fixture(scope="module")
def bootstrap(stack_env: dict[str, str]) -> str:
    """host:port of the test broker, for aiokafka clients."""
    return stack_env["STREAMAPP_BROKER"].removeprefix("kafka://")


@pytest.fixture(scope="module")
def worker(stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    process = WorkerProcess(stack_env, tmp_path_factory.mktemp("logs") / "worker.log").start()
    yield process
    process.stop()


def wait_until(predicate, timeout_s: float = 60.0, interval_s: float = 0.2) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return False


async def commit_group_offset(bootstrap: str, group: str, tp: TopicPartition, offset: int) -> None:
    """Commit ``group``'s offset of one partition, as a holder that read up to there (and then left) would have."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.commit({tp: offset})
    finally:
        await consumer.stop()
