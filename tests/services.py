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
