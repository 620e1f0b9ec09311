"""Inputs given as http(s) URLs: allowed only by settings, never to loopback, private or link-local hosts
unless the operator trusts the host by name."""

from __future__ import annotations

import ipaddress
import os
import socket
import urllib.parse
import urllib.request
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from streamapp.errors import InputError, StreamappError, TransientError


def is_url(path: str) -> bool:
    return path.lower().startswith(("http://", "https://"))


def refuse_private_host(url: str) -> None:
    """Raise unless every address the URL's host resolves to is public (no SSRF into the cluster)."""
    host = urllib.parse.urlsplit(url).hostname
    if not host:
        raise InputError(f"not a valid URL: {url}", code="input_url_invalid")
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        raise InputError(f"cannot resolve host {host}", code="input_url_invalid") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise InputError(f"{host} resolves to a non-public address ({address})", code="input_url_refused")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: object, fp: object, code: int, msg: str, headers: object,
                         newurl: str) -> None:  # a redirect could point inside the cluster
        raise InputError(f"the URL redirects (HTTP {code}); give the final address", code="input_url_refused")


def _open_checked(url: str, trusted_hosts: Collection[str]) -> Any:
    """An open response for ``url``, after refusing private hosts (other than ``trusted_hosts``, named by the
    operator); redirects are refused and the environment's proxies ignored."""
    if (urllib.parse.urlsplit(url).hostname or "").lower() not in {h.lower() for h in trusted_hosts}:
        refuse_private_host(url)
    opener = urllib.request.build_opener(_NoRedirect, urllib.request.ProxyHandler({}))  # no env proxies
    return opener.open(url, timeout=30)  # noqa: S310 - checked above


def read_url(url: str, max_bytes: int, trusted_hosts: Collection[str] = ()) -> bytes:
    """The body of ``url`` (a live playlist or one of its segments), refused like ``download``'s."""
    try:
        with _open_checked(url, trusted_hosts) as response:
            body = response.read(max_bytes + 1)
    except StreamappError:
        raise
    except OSError as exc:
        raise TransientError(f"fetching {url} failed: {exc}", code="download_failed") from None
    if len(body) > max_bytes:
        raise InputError(f"{url} exceeds {max_bytes} bytes", code="input_too_large")
    return body


def download(url: str, dest: Path, max_bytes: int, trusted_hosts: Collection[str] = (),
             stop: Callable[[], None] | None = None) -> Path:
    """Fetch ``url`` to ``dest`` atomically, refusing private hosts (other than ``trusted_hosts``, named
    by the operator), redirects and oversized bodies. ``stop`` is called between chunks and may raise (a
    cancelled job) to end the download, leaving no file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    try:
        with _open_checked(url, trusted_hosts) as response, open(tmp, "wb") as out:
            total = 0
            while chunk := response.read(1 << 20):
                if stop is not None:
                    stop()
                total += len(chunk)
                if total > max_bytes:
                    raise InputError(f"download exceeds {max_bytes} bytes", code="input_too_large")
                out.write(chunk)
    except StreamappError:  # refused, or stopped
        tmp.unlink(missing_ok=True)
        raise
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise TransientError(f"download failed: {exc}", code="download_failed") from None
    os.replace(tmp, dest)
    return dest
