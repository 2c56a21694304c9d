"""The event types a webhook endpoint may subscribe to (issue 20), one table."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

ACKNOWLEDGED = "recipient.acknowledged"

EVENT_TYPES: dict[str, object] = {
    "campaign.launched": _("A campaign was launched."),
    "campaign.paused": _("A campaign was paused."),
    "campaign.resumed": _("A campaign was resumed."),
    "campaign.cancelled": _("A campaign was cancelled."),
    "campaign.finished": _("A campaign finished."),
    "step.sent": _("A step's messages were all sent (with its counts)."),
    "recipient.acknowledged": _("A recipient acknowledged."),
    "recipient.answer_changed": _("A recipient changed their answer."),
    "delivery.failed": _("A message bounced, was complained about or failed."),
    "import.completed": _("A staff import completed."),
    "import.failed": _("A staff import failed."),
    "evidence.ready": _("An evidence bundle is ready."),
}
