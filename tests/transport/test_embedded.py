import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from streamapp.errors import StreamappError
from streamapp.transport.embedded import EmbeddedBroker, port_is_free


@pytest.fixture
def taken_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_taken_port_is_an_error_not_a_started_broker(taken_port):
    assert not port_is_free("127.0.0.1", taken_port)
    with pytest.raises(StreamappError) as err:
        EmbeddedBroker(port=taken_port).start()
    assert err.value.code == "port_in_use"
    assert str(taken_port) in err.value.message


def test_cli_broker_on_a_taken_port_exits_with_one_line(taken_port):
    run = subprocess.run([sys.executable, "-m", "streamapp", "broker", "--port", str(taken_port)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 3
    lines = [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and "already in use" in lines[0]
    assert "Traceback" not in run.stderr


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (dead, not yet reaped by init) counts as gone.
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split(") ")[1][0] != "Z"


_STARTER = """
import sys, time
from streamapp.transport.embedded import EmbeddedBroker
broker = EmbeddedBroker().start()
print(broker._process.pid, flush=True)
time.sleep(600)
"""


def test_broker_dies_with_a_killed_parent():
    parent = subprocess.Popen([sys.executable, "-c", _STARTER], stdout=subprocess.PIPE, text=True)
    try:
        broker_pid = int(parent.stdout.readline())
        assert _alive(broker_pid)
        parent.send_signal(signal.SIGKILL)  # no finally, no atexit: only the kernel can stop the broker
        parent.wait()
        deadline = time.monotonic() + 30
        while _alive(broker_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(broker_pid)
    finally:
        parent.kill()


def test_sigterm_of_cli_broker_stops_the_broker():
    from streamapp.transport.embedded import free_port

    port = free_port()
    cli = subprocess.Popen([sys.executable, "-m", "streamapp", "broker", "--port", str(port)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert "embedded broker at" in cli.stdout.readline()
        assert not port_is_free("127.0.0.1", port)
        cli.send_signal(signal.SIGTERM)
        assert cli.wait(timeout=30) == 0
        assert port_is_free("127.0.0.1", port)  # the broker went down with the command
    finally:
        cli.kill()
