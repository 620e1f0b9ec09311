"""URL inputs: loopback, private and link-local hosts are refused before any connection is made."""

from __future__ import annotations

import pytest

from streamapp.errors import InputError
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
