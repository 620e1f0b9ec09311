"""URL inputs: loopback, private and link-local hosts are refused before any connection is made."""

from __future__ import annotations

import http.server
import threading

import pytest

from streamapp.errors import InputError, JobCancelled
from streamapp.media.fetch import download, is_url, refuse_private_host


@pytest.mark.parametrize("url", ["http://127.0.0.1/v.mp4", "http://localhost:8080/v.mp4", "https://10.1.2.3/v.mp4",
                                 "http://192.168.0.7/v.mp4", "http://172.16.5.5/v.mp4", "http://[::1]/v.mp4",
                                 "http://169.254.169.254/latest/meta-data", "http://0.0.0.0/v.mp4"])
def test_non_public_hosts_are_refused(url: str) -> None:
    with pytest.raises(InputError) as refused:
        refuse_private_host(url)
    assert refused.value.code == "input_url_refused"


def test_download_refuses_before_connecting(tmp_path) -> None:
    with pytest.raises(InputError):
        download("http://127.0.0.1:9/v.mp4", tmp_path / "v.mp4", 1024)
    assert not list(tmp_path.iterdir())


def test_malformed_urls_and_plain_paths() -> None:
    with pytest.raises(InputError) as bad:
        refuse_private_host("http:///nohost")
    assert bad.value.code == "input_url_invalid"
    assert is_url("HTTPS://x.org/a.mp4") and not is_url("/data/http/a.mp4")


def test_a_trusted_host_is_fetched_even_on_loopback(tmp_path) -> None:
    body = bytes(range(256)) * 64

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v.mp4"
        with pytest.raises(InputError):  # not trusted: refused as before
            download(url, tmp_path / "a.mp4", 1 << 20, trusted_hosts=["media.internal"])
        assert download(url, tmp_path / "b.mp4", 1 << 20, trusted_hosts=["127.0.0.1"]).read_bytes() == body
        with pytest.raises(InputError) as large:  # the other limits still hold for a trusted host
            download(url, tmp_path / "c.mp4", 1000, trusted_hosts=["127.0.0.1"])
        assert large.value.code == "input_too_large"

        def stop() -> None:  # a cancelled job's stop check
            raise JobCancelled("the job was cancelled")

        with pytest.raises(JobCancelled):
            download(url, tmp_path / "d.mp4", 1 << 20, trusted_hosts=["127.0.0.1"], stop=stop)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["b.mp4"]  # neither the file nor its half
    finally:
        server.shutdown()
