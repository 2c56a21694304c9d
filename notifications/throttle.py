"""Per-client-address rate limits of the public pages (link and verify).

Fixed one-minute windows counted in Django's cache: Redis when CACHE_URL is
set, so every web process shares the counts; a per-process memory cache
otherwise. Two counters per address: every request (generous: a whole office
may come from one address) and failures (unknown tokens or references:
only guessing produces many of those).
"""

from __future__ import annotations

import ipaddress
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

WINDOW_SECONDS = 60


def client_address(request: HttpRequest) -> str:
    """The client's address; behind a proxy, the last hop it recorded."""
    header = settings.ACK_CLIENT_IP_HEADER
    raw = ""
    if header:
        raw = request.META.get(header, "").split(",")[-1].strip()
    return raw or request.META.get("REMOTE_ADDR", "") or "unknown"


def _bucket(address: str) -> str:
    # One IPv6 host usually owns a whole /64: count the network, not the host.
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False).network_address)
    return str(ip)


def _keys(request: HttpRequest) -> tuple[str, str]:
    window = int(time.time() // WINDOW_SECONDS)
    bucket = _bucket(client_address(request))
    return f"ack-rl:all:{bucket}:{window}", f"ack-rl:bad:{bucket}:{window}"


def _hit(key: str) -> int:
    # incr first: one round trip to Redis once the window's key exists.
    try:
        return cache.incr(key)
    except ValueError:
        if cache.add(key, 1, WINDOW_SECONDS * 2):
            return 1
        return cache.incr(key)


def throttled(request: HttpRequest) -> bool:
    """Count this request; True when its address is over a limit."""
    every, bad = _keys(request)
    limit, failures = settings.ACK_RATE_LIMIT, settings.ACK_RATE_LIMIT_FAILURES
    if failures and (cache.get(bad) or 0) >= failures:
        return True
    return bool(limit) and _hit(every) > limit


def failure_note(request: HttpRequest) -> None:
    if settings.ACK_RATE_LIMIT_FAILURES:
        _hit(_keys(request)[1])


def retry_after() -> int:
    return WINDOW_SECONDS - int(time.time()) % WINDOW_SECONDS
