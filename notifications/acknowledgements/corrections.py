"""Acknowledgements recorded or withdrawn by hand, by a DPO, with a reason.

For the people the link cannot reach (a signed paper letter, an answer given
by phone) and for mistakes. Every correction adds a history row (never
edits one) and an audit entry carrying the reason, before and after.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditAction
from audit.services import audit_record
from notifications.models import Acknowledgement, AcknowledgementKind, Recipient


def _state(recipient: Recipient) -> dict[str, Any]:
    at = recipient.acknowledged_at
    return {
        "acknowledged_at": at.isoformat() if at else None,
        "answer": recipient.answer,
    }


def acknowledgement_correct(
    *,
    recipient_id: int,
    acknowledged: bool,
    answer: str = "",
    reason: str,
    user: Any,
    now: datetime | None = None,
) -> Recipient:
    """Record (``acknowledged=True``) or withdraw an acknowledgement."""
    reason = reason.strip()
    if not reason:
        raise ValidationError(_("Say why the acknowledgement is corrected."))
    now = now or timezone.now()
    with transaction.atomic():
        recipient = Recipient.objects.select_for_update().get(pk=recipient_id)
        campaign = recipient.campaign
        if not campaign.asks_answer:
            answer = ""
        elif acknowledged and answer not in {
            c.get("value") for c in campaign.answer_choices
        }:
            raise ValidationError(_("Choose one of the campaign's answers."))
        before = _state(recipient)
        if acknowledged:
            recipient.acknowledged_at = recipient.acknowledged_at or now
            recipient.answer = answer
            kind = AcknowledgementKind.CORRECTED
        else:
            recipient.acknowledged_at = None
            recipient.answer = ""
            kind = AcknowledgementKind.WITHDRAWN
        recipient.save(update_fields=["acknowledged_at", "answer"])
        Acknowledgement.objects.create(
            recipient=recipient, kind=kind, at=now, answer=recipient.answer
        )
        audit_record(
            actor=user,
            action=AuditAction.ACK_CORRECTION,
            target=recipient,
            before=before,
            after=_state(recipient),
            reason=reason,
            subject_employee_id=recipient.employee_id,
        )
    return recipient
