"""What the DPO does to a running campaign from its dashboard.

- Four-eyes launch (``LAUNCH_REQUIRES_APPROVAL``): a first user asks for the
  launch, a second DPO approves it, which launches. The request lives in the
  audit log itself (no extra table): the latest launch-related entry of the
  campaign says whether a request is pending; any change of the campaign's
  text or settings recorded after it voids it, so nobody approves a text
  they did not see.
- "Send the next reminder now": a reminder step due now, for those who have
  not acknowledged; the dispatcher sends it at its next tick (inside the
  send window, like any step).
- "Retry the failed": failed messages back in the queue.

Every change is recorded with ``audit_record`` by the function making it.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from audit.models import AuditAction, AuditEntry
from audit.services import audit_record
from notifications.campaigns import services
from notifications.models import (
    Campaign,
    CampaignAction,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Step,
    StepKind,
    StepStatus,
)

DPO_GROUP = "DPO"
REQUESTED = "requested"
APPROVED = "approved"
# Entries that void a pending launch request when recorded after it.
_VOIDING = (AuditAction.CONTENT_CHANGE, AuditAction.CAMPAIGN_EDIT)


def approval_required() -> bool:
    return bool(getattr(settings, "LAUNCH_REQUIRES_APPROVAL", False))


def is_dpo(user: object) -> bool:
    if not getattr(user, "is_active", False):
        return False
    return user.is_superuser or user.groups.filter(name=DPO_GROUP).exists()


# --- Four-eyes launch ----------------------------------------------------------


def _campaign_entries(campaign: Campaign):
    return AuditEntry.objects.filter(
        target_type=campaign._meta.label_lower, target_id=str(campaign.pk)
    )


def launch_request_pending(campaign: Campaign) -> AuditEntry | None:
    """The launch request waiting for a second DPO, if any (only a draft's:
    the status must allow approving)."""
    if not campaign.allows(CampaignAction.APPROVE):
        return None
    latest = (
        _campaign_entries(campaign)
        .filter(action__in=(*_VOIDING, AuditAction.LAUNCH_APPROVAL))
        .order_by("-seq")
        .first()
    )
    if latest is None or latest.action != AuditAction.LAUNCH_APPROVAL:
        return None
    return latest if (latest.after or {}).get("stage") == REQUESTED else None


def launch_request(*, campaign: Campaign, user: object) -> AuditEntry:
    """Ask for the launch; refused when the campaign could not launch now."""
    problems = services.campaign_launch_problems(campaign=campaign)
    if not campaign.allows(CampaignAction.LAUNCH):
        problems.append(_("Only a draft can be launched."))
    if problems:
        raise services.CampaignError(problems)
    pending = launch_request_pending(campaign)
    if pending is not None:
        return pending
    return audit_record(
        actor=user,
        action=AuditAction.LAUNCH_APPROVAL,
        target=campaign,
        after={"stage": REQUESTED},
        reason=_("Launch requested, waiting for a second DPO."),
    )


def launch_approve(
    *, campaign: Campaign, user: object, now: datetime | None = None
) -> int:
    """A second DPO approves the pending request: the campaign launches.

    Returns the number enrolled. The approval entry and the launch commit
    together.
    """
    pending = launch_request_pending(campaign)
    if pending is None:
        raise services.CampaignError([_("No launch request is waiting.")])
    if not is_dpo(user):
        raise services.CampaignError([_("Only a DPO can approve a launch.")])
    if pending.user_id is not None and pending.user_id == getattr(user, "pk", None):
        raise services.CampaignError(
            [_("A second DPO must approve: you asked for this launch yourself.")]
        )
    with transaction.atomic():
        audit_record(
            actor=user,
            action=AuditAction.LAUNCH_APPROVAL,
            target=campaign,
            after={
                "stage": APPROVED,
                "request": pending.seq,
                "requested_by": pending.username,
            },
        )
        return services.campaign_launch(campaign=campaign, user=user, now=now)


def launch(*, campaign: Campaign, user: object) -> tuple[str, int]:
    """The dashboard's Launch button: ("launched", enrolled) or ("requested", 0)."""
    if approval_required():
        launch_request(campaign=campaign, user=user)
        return REQUESTED, 0
    return "launched", services.campaign_launch(campaign=campaign, user=user)


# --- Reminder now ------------------------------------------------------------


def reminder_now(
    *, campaign: Campaign, user: object, now: datetime | None = None
) -> Step:
    """Add a reminder step due now; a second click before it went out
    returns the same step instead of adding another."""
    now = now or timezone.now()
    if not campaign.allows(CampaignAction.REMIND):
        raise services.CampaignError(
            [
                _("A reminder can only be sent while the campaign runs (it is %(s)s).")
                % {"s": campaign.get_status_display()}
            ]
        )
    if campaign.deadline <= now:
        raise services.CampaignError([_("The deadline has passed.")])
    with transaction.atomic():
        waiting = (
            Step.objects.select_for_update()
            .filter(
                campaign=campaign,
                kind=StepKind.REMINDER,
                at__isnull=False,
                status__in=(StepStatus.PENDING, StepStatus.DUE),
                due_at__lte=now,
            )
            .first()
        )
        if waiting is not None:
            return waiting
        step = Step.objects.create(
            campaign=campaign,
            kind=StepKind.REMINDER,
            at=now,
            due_at=now,
            status=StepStatus.PENDING,
            status_reason=gettext_noop("Sent on request from the dashboard."),
        )
        audit_record(
            actor=user,
            action=AuditAction.CAMPAIGN_EDIT,
            target=campaign,
            after={"action": "reminder_now", "step": step.pk, "at": now},
            reason=_("Reminder sent now to those who have not acknowledged."),
        )
    return step


# --- Retry the failed --------------------------------------------------------


def failed_retry(
    *, campaign: Campaign, user: object, now: datetime | None = None
) -> int:
    """Put the campaign's failed messages back in the queue; returns how many.

    Only "failed" (our side or a transient ESP error that ran out of
    attempts): a bounce or a rejection would fail again. A finished campaign
    whose deadline is still ahead runs again until they are sent.
    """
    now = now or timezone.now()
    if not campaign.allows(CampaignAction.RETRY) or campaign.deadline <= now:
        raise services.CampaignError([_("This campaign can no longer send.")])
    with transaction.atomic():
        count = Delivery.objects.filter(
            step__campaign=campaign, status=DeliveryStatus.FAILED
        ).update(
            status=DeliveryStatus.QUEUED,
            attempts=0,
            next_attempt_at=None,
            claimed_at=None,
            status_at=now,
        )
        if not count:
            return 0
        Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.FINISHED).update(
            status=CampaignStatus.RUNNING, finished_at=None, updated_at=now
        )
        audit_record(
            actor=user,
            action=AuditAction.CAMPAIGN_EDIT,
            target=campaign,
            after={"action": "retry_failed", "messages": count},
            reason=_("Failed messages put back in the queue."),
        )
    campaign.refresh_from_db()
    return count
