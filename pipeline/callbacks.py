"""Sync callbacks over HTTP, to the address that was checked.

A callback URL's host is resolved once; unless CALLBACK_ALLOW_PRIVATE, every address it has must
be public. The POST then connects to the first of those addresses, never resolving the name again
(a second lookup could answer 127.0.0.1: DNS rebinding), while the request still names the host:
its Host header, the TLS server name (SNI) and the name the certificate is checked against are the
URL's. Proxies from the environment are not used: a proxy would resolve the name itself.

The body is the sync's JSON as the door that made it answers it; the pipeline names no wire shape:
that door registers its renderer (`register_body`, from its `AppConfig.ready()`).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_body: Callable[[Any], dict] | None = None


def register_body(render: Callable[[Any], dict]) -> None:
    """Set what renders a sync as the body of its callback (the Eloqua door's `SYNC.render`)."""
    global _body
    _body = render


def callback_body(sync) -> dict:
    """The sync's JSON, as the registered renderer gives it."""
    if _body is None:
        raise RuntimeError("no callback body renderer is registered (pipeline.callbacks.register_body)")
    return _body(sync)


class CallbackRefused(Exception):
    """The URL's host resolves to an address callbacks may not reach."""


def resolve(host: str, port: int | None = None) -> list[Address]:
    """The host's addresses, in the resolver's order; OSError (socket.gaierror) when it has none.
    UnicodeError: not a host name at all (a label over 63 characters)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos))


def refusal(addresses: list[Address]) -> str | None:
    """Why callbacks may not go to these addresses, or None."""
    if settings.CALLBACK_ALLOW_PRIVATE:
        return None
    if any(not address.is_global for address in addresses):
        return "Must not point at a private, loopback or unresolvable address."
    return None


class PinnedAdapter(HTTPAdapter):
    """Connects to `address` whatever the URL's host is, and checks TLS against `hostname`."""

    def __init__(self, address: Address, hostname: str):
        self.address, self.hostname = address, hostname
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = self.hostname  # SNI
            pool_kwargs["assert_hostname"] = self.hostname  # the certificate must be the name's
        return {**host_params, "host": str(self.address)}, pool_kwargs


def callback_post(url: str, payload: dict) -> requests.Response:
    """POST `payload` as JSON to `url` at the address its host resolves to now, once.

    CallbackRefused when that address may not be called; requests' errors (a connection refused or
    timed out, a host that does not resolve, a TLS failure) for the caller to retry."""
    parts = urlsplit(url)
    hostname = parts.hostname or ""
    try:
        addresses = resolve(hostname, parts.port)
    except (OSError, UnicodeError) as exc:
        raise requests.ConnectionError(f"cannot resolve {hostname!r}: {exc}") from exc
    reason = refusal(addresses)
    if reason:
        raise CallbackRefused(reason)
    with requests.Session() as session:
        session.trust_env = False  # no proxies, netrc or CA bundle from the environment
        session.mount(f"{parts.scheme}://", PinnedAdapter(addresses[0], hostname))
        return session.post(
            url,
            json=payload,
            headers={"Host": parts.netloc.rpartition("@")[2]},
            timeout=settings.CALLBACK_TIMEOUT_SECONDS,
            allow_redirects=False,
            verify=settings.CALLBACK_CA_BUNDLE or True,
        )
