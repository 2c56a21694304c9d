"""A launched campaign with sent messages and one acknowledgement, for the
audit, evidence, retention and GDPR tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from notifications.campaigns import services
from notifications.models import (
    Campaign,
    Delivery,
    DeliveryStatus,
    Recipient,
    Step,
    StepKind,
)
from tests.campaign_factories import PARIS, EmployeeFactory, campaign_make

LAUNCH = datetime(2025, 10, 1, 10, 0, tzinfo=PARIS)


@dataclass
class Sent:
    campaign: Campaign
    recipients: list[Recipient]
    deliveries: list[Delivery]


def campaign_sent(*, people: int = 3, name: str = "LinkedIn AI") -> Sent:
    """Launched; the first message sent to everyone; the first person acked."""
    for _ in range(people):
        EmployeeFactory()
    campaign = campaign_make(name=name)
    services.campaign_launch(campaign=campaign, now=LAUNCH)
    step = Step.objects.get(campaign=campaign, kind=StepKind.FIRST)
    recipients = list(Recipient.objects.filter(campaign=campaign).order_by("id"))
    deliveries = []
    for recipient in recipients:
        content = campaign.contents.get(language=recipient.language, is_current=True)
        deliveries.append(
            Delivery.objects.create(
                step=step,
                recipient=recipient,
                to_email=recipient.email,
                language=recipient.language,
                status=DeliveryStatus.SENT,
                content=content,
                content_sha256=content.sha256,
                esp_message_id=f"<msg-{recipient.pk}@example.com>",
                sent_at=LAUNCH + timedelta(hours=1),
            )
        )
    Recipient.objects.filter(pk=recipients[0].pk).update(
        acknowledged_at=LAUNCH + timedelta(hours=2), answer="opted_out"
    )
    return Sent(campaign, recipients, deliveries)
