"""Launched campaigns with personal links, for the acknowledgement tests."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.utils import timezone

from notifications.acknowledgements.throttle import WINDOW_SECONDS
from notifications.campaigns import services
from notifications.models import Campaign, Recipient
from tests.campaign_factories import EmployeeFactory, campaign_make

SAFE_LINKS_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0 "
    "(compatible; Microsoft Defender for Office 365 Safe Links)"
)
PROOFPOINT_UA = (
    "Proofpoint URL Defense (urldefense.proofpoint.com) python-requests/2.31.0"
)


def launched(
    *,
    employees: int = 1,
    deadline: datetime | None = None,
    name: str = "LinkedIn AI",
    **employee_fields: object,
) -> tuple[Campaign, list[Recipient]]:
    """A launched LinkedIn campaign (asks a question) and its recipients."""
    forget_cached_contents()  # the page caches texts per campaign id
    EmployeeFactory.create_batch(employees, **employee_fields)
    campaign = campaign_make(
        name=name, deadline=deadline or timezone.now() + timedelta(days=30)
    )
    services.campaign_launch(campaign=campaign, now=timezone.now())
    campaign.refresh_from_db()
    recipients = list(Recipient.objects.filter(campaign=campaign).order_by("id"))
    return campaign, recipients


def link(recipient: Recipient) -> str:
    return f"/a/{services.recipient_token(recipient)}/"


def confirmed_post(campaign: Campaign, language: str = "fr", **extra: str) -> dict:
    data = {
        "confirm": "on",
        "content": str(campaign.contents.get(language=language, is_current=True).pk),
    }
    if campaign.asks_answer:
        data["answer"] = campaign.answer_choices[0]["value"]
    data.update(extra)
    return data


def forget_cached_contents() -> None:
    from notifications.acknowledgements import services as acknowledgements

    acknowledgements._CONTENTS.clear()


@contextlib.contextmanager
def shared_redis_cache() -> Iterator[tuple[str, dict, object]]:
    """Django's cache on the test Redis under a fresh key prefix, as every web
    process shares it: yields (prefix, the CACHES setting, a plain Redis
    client standing for another process), starts inside one rate-limit
    window, and deletes the keys afterwards."""
    import redis

    from tests.services import REDIS_URL

    prefix = f"test-ack-{secrets.token_hex(4)}"
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    other = redis.Redis.from_url(REDIS_URL)
    if WINDOW_SECONDS - time.time() % WINDOW_SECONDS < 3:
        time.sleep(3)  # every request of the test in the same window
    try:
        yield prefix, caches, other
    finally:
        for key in other.scan_iter(f"{prefix}:*"):
            other.delete(key)
