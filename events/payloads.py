"""The ``data`` of the events that concern a person or an import.

Thin: ids, the campaign's public reference, counts. The person's e-mail
only with ``WEBHOOK_INCLUDE_PERSONAL_DATA=true``. The domain objects are
read by attribute (this low layer imports no domain above it).
"""

from __future__ import annotations

from datetime import datetime

from events.outbox import personal_data_allowed


def recipient_payload(
    recipient: object, *, at: datetime | None = None, answer: str | None = None
) -> dict:
    campaign = recipient.campaign  # type: ignore[attr-defined]
    data = {
        "campaign_id": campaign.pk,
        "reference": campaign.reference,
        "recipient_id": recipient.pk,  # type: ignore[attr-defined]
        "employee_id": recipient.employee_id,  # type: ignore[attr-defined]
        "acknowledged_at": at or recipient.acknowledged_at,  # type: ignore[attr-defined]
        "answer": recipient.answer if answer is None else answer,  # type: ignore[attr-defined]
    }
    if personal_data_allowed():
        data["email"] = recipient.email  # type: ignore[attr-defined]
    return data
