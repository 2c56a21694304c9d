"""Per-client-address rate limits of the public pages (link and verify).

Fixed one-minute windows counted in Django's cache: Redis when CACHE_URL is
set, so every web process shares the counts; a per-process memory cache
otherwise. Two counters per address: every request (generous: a whole office
may come from one address) and failures (unknown tokens or references:
only guessing produces many of those).

With Redis, the counts bypass Django's cache client (which builds a client
object and makes two round trips per ``incr``): one module-level client per
process, its connection pool reused, and one pipelined round trip per
request. The keys are the cache's own (``cache.make_key``), so clearing the
cache clears them.
"""

from __future__ import annotations

import ipaddress
import time
from functools import cache as memoize
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

if TYPE_CHECKING:
    import redis

WINDOW_SECONDS = 60
_REDIS_CACHE = "django.core.cache.backends.redis.RedisCache"


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


@memoize
def _redis_for(url: str) -> redis.Redis:
    import redis

    return redis.Redis.from_url(url)


def _redis() -> redis.Redis | None:
    """The shared counter store, when the cache is Redis."""
    config = settings.CACHES["default"]
    if config["BACKEND"] != _REDIS_CACHE:
        return None
    location = config["LOCATION"]
    if isinstance(location, str):
        location = location.split(",")
    return _redis_for(location[0])  # the primary: writes go there


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
    client = _redis()
    if client is None:
        if failures and (cache.get(bad) or 0) >= failures:
            return True
        return bool(limit) and _hit(every) > limit
    pipe = client.pipeline(transaction=False)
    pipe.incr(cache.make_key(every))
    pipe.expire(cache.make_key(every), WINDOW_SECONDS * 2)
    pipe.get(cache.make_key(bad))
    count, _expiry, guesses = pipe.execute()
    if failures and int(guesses or 0) >= failures:
        return True
    return bool(limit) and count > limit


def failure_note(request: HttpRequest) -> None:
    if not settings.ACK_RATE_LIMIT_FAILURES:
        return
    bad = _keys(request)[1]
    client = _redis()
    if client is None:
        _hit(bad)
        return
    pipe = client.pipeline(transaction=False)
    pipe.incr(cache.make_key(bad))
    pipe.expire(cache.make_key(bad), WINDOW_SECONDS * 2)
    pipe.execute()


def retry_after() -> int:
    return WINDOW_SECONDS - int(time.time()) % WINDOW_SECONDS
