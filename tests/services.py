"""Detection of the real services some tests need.

Locally a missing service skips the test with the reason; in CI (CI=true) it
fails instead, because CI must run every test against real servers.
"""

from __future__ import annotations

import os
import shutil
import socket
from functools import cache
from urllib.parse import urlparse

import pytest
from django.conf import settings

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Headless Chromium in a container: no sandbox (root), and nothing that
# reaches out to Google's services during a test.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_launch(playwright):  # type: ignore[no-untyped-def]
    """The system's Chromium, headless, through Playwright."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@cache
def redis_available() -> bool:
    url = urlparse(REDIS_URL)
    return _port_open(url.hostname or "127.0.0.1", url.port or 6379)


def postgres_in_use() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def chromium_available() -> bool:
    return bool(shutil.which(CHROMIUM)) or os.path.exists(CHROMIUM)


def require(available: bool, reason: str) -> None:
    if available:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} — CI must run this test against the real service")
    pytest.skip(reason)


CHECKS = {
    "redis": (
        redis_available,
        f"Redis is not reachable at {REDIS_URL} (set TEST_REDIS_URL)",
    ),
    "postgres": (
        postgres_in_use,
        "runs on PostgreSQL only (set DATABASE_URL=postgres://...)",
    ),
    "browser": (
        chromium_available,
        f"Chromium not found at {CHROMIUM} (apt-get install chromium)",
    ),
}


# --- A throwaway Redis for broker fault tests ----------------------------------


class RedisThrowaway:
    """A `redis-server` of its own on a free port, without persistence.

    Fault tests flush it, kill it and start it again on the same port (as a
    restart without persistence does: everything it held is gone) without
    touching the shared Redis of the other tests.
    """

    def __init__(self) -> None:
        import tempfile

        self.port = _free_port()
        self.dir = tempfile.mkdtemp(prefix="redis-throwaway-")
        self.process: object | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisThrowaway:
        import subprocess
        import time

        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _port_open("127.0.0.1", self.port):
            if time.monotonic() > deadline:
                raise TimeoutError(f"redis-server not listening on {self.port}")
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        """SIGKILL: what it held in memory is lost."""
        if self.process is not None:
            self.process.kill()  # type: ignore[attr-defined]
            self.process.wait(timeout=10)  # type: ignore[attr-defined]
            self.process = None

    def flushall(self) -> None:
        import redis

        redis.Redis.from_url(self.url).flushall()

    def __enter__(self) -> RedisThrowaway:
        require(bool(shutil.which("redis-server")), "redis-server is not installed")
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
