"""One HTTP POST to a webhook endpoint, and the guard against SSRF.

The host is resolved here, at send time, and every address it resolves to
is checked (a name that resolved to a public address when saved may point
into the network later); the connection then goes to the address checked,
never to a second resolution (DNS rebinding). TLS still verifies the
certificate against the URL's host name. urllib3 rather than requests: it
lets us connect to the checked address while naming the host for TLS, and
we follow no redirects anyway.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from django.utils.translation import gettext as _

_READ_AT_MOST = 1024
_DRAIN_AT_MOST = 65536


class UrlRefused(Exception):
    """The URL is not one we send to (scheme, or a private address)."""


@dataclass
class Outcome:
    status: int | None  # None: no HTTP answer (connection, timeout, refused)
    duration_ms: int
    retry_after: float | None = None
    error: str = ""


def _address_refused(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def url_check(url: str) -> None:
    """Raise UrlRefused for a URL that is not http(s) with a host."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError as exc:  # "[::1", port 99999 or "x"
        raise UrlRefused(
            _("The URL is malformed (a port out of range, or a bracket not closed).")
        ) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlRefused(_("Only http and https URLs with a host name are accepted."))
    if parts.username or parts.password:
        raise UrlRefused(_("The URL must not carry a user name or password."))


def resolve(url: str) -> str:
    """The address to connect to, refused when private (unless allowed)."""
    url_check(url)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlRefused(_("The host name does not resolve.")) from exc
    addresses = [info[4][0] for info in infos]
    if not settings.WEBHOOK_ALLOW_PRIVATE_URLS and any(
        _address_refused(a) for a in addresses
    ):
        raise UrlRefused(
            _(
                "The URL resolves to a private, loopback or link-local address "
                "(allowed only with WEBHOOK_ALLOW_PRIVATE_URLS=true)."
            )
        )
    return addresses[0]


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Sender:
    """Keeps one connection pool per (address, host) for a batch of sends."""

    def __init__(self) -> None:
        self._pools: dict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] = {}
        self._addresses: dict[str, str] = {}

    def _pool(self, url: str) -> tuple[urllib3.HTTPConnectionPool, str, str]:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if url not in self._addresses:
            self._addresses[url] = resolve(url)
        address = self._addresses[url]
        port = parts.port or (443 if parts.scheme == "https" else 80)
        key = (parts.scheme, address, port, host)
        pool = self._pools.get(key)
        if pool is None:
            timeout = urllib3.Timeout(total=settings.WEBHOOK_TIMEOUT)
            options = {
                "maxsize": 16,
                "block": False,
                "timeout": timeout,
                "retries": False,
            }
            if parts.scheme == "https":
                pool = urllib3.HTTPSConnectionPool(
                    address,
                    port,
                    server_hostname=host,
                    assert_hostname=host,
                    cert_reqs="CERT_REQUIRED",
                    **options,
                )
            else:
                pool = urllib3.HTTPConnectionPool(address, port, **options)
            self._pools[key] = pool
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return pool, path, parts.netloc.rsplit("@", 1)[-1]

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        started = time.monotonic()

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            pool, path, host_header = self._pool(url)
            response = pool.urlopen(
                "POST",
                path,
                body=body,
                headers={
                    **headers,
                    "host": host_header,
                    "user-agent": "notify-webhooks/1",
                },
                redirect=False,
                retries=False,
                preload_content=False,
            )
        except UrlRefused as exc:
            return Outcome(None, elapsed(), error=str(exc))
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return Outcome(None, elapsed(), error=type(exc).__name__)
        try:
            response.read(_READ_AT_MOST)
            # A short rest is drained to keep the connection; a long or
            # endless body closes it (we never read more than a few bytes).
            remaining = response.length_remaining
            if remaining is not None and remaining <= _DRAIN_AT_MOST:
                response.drain_conn()
            else:
                response.close()
        except (urllib3.exceptions.HTTPError, OSError):
            response.close()
        finally:
            response.release_conn()
        return Outcome(
            response.status,
            elapsed(),
            retry_after=_retry_after(response.headers.get("retry-after")),
        )

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
