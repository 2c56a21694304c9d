"""Launched campaigns with personal links, for the acknowledgement tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from notifications import services
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
    from notifications import acknowledging

    acknowledging._CONTENTS.clear()
