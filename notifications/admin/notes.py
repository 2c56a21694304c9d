"""What the campaign page says about a campaign in words: its steps with
their labels and local times, the warnings given at save (a draft that could
not be launched as it stands), and the steps the send window folds onto the
same opening. Reads only; the page (campaigns.py) shows them."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from common.texts import choice_label
from notifications.campaigns.selectors import campaign_audience
from notifications.models import (
    OPEN_STEP_STATUSES,
    Campaign,
    CampaignStatus,
    StepKind,
    StepStatus,
)


def local_time(at: datetime | str | None, campaign: Campaign) -> str:
    """A step's or deadline's time as people read it: localised date and
    time in the campaign's time zone, with the zone named."""
    if not at:
        return "—"
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    at = timezone.localtime(at, timezone=ZoneInfo(campaign.time_zone))
    return f"{date_format(at, 'DATETIME_FORMAT')} ({campaign.time_zone})"


def step_rows(campaign: Campaign, figures: dict) -> list[dict]:
    """campaign_status's steps with labels instead of stored values."""
    return [
        {
            **step,
            "kind_label": choice_label(StepKind, step["kind"]),
            "status_label": choice_label(StepStatus, step["status"]),
            "due_label": local_time(step["due"], campaign),
        }
        for step in figures.get("steps", [])
    ]


def save_warnings(campaign: Campaign, *, now: datetime | None = None) -> list[str]:
    """Why a draft, saved as it is, would be refused at launch: said at save
    so the DPO need not find out when launching (a warning, not a block)."""
    if campaign.status != CampaignStatus.DRAFT:
        return []
    warnings = []
    if campaign.deadline <= (now or timezone.now()):
        warnings.append(
            _(
                "The deadline (%(deadline)s) has passed: the campaign cannot be "
                "launched until you move it."
            )
            % {"deadline": local_time(campaign.deadline, campaign)}
        )
    if not campaign_audience(campaign).exists():
        warnings.append(
            _(
                "No active employee matches the audience: the campaign cannot be "
                "launched until someone does."
            )
        )
    return warnings


def folded_steps(campaign: Campaign) -> list[str]:
    """One sentence per send-window opening that carries several steps (a
    Monday 18:00 deadline puts D-3 and D-2 on the Monday at 09:00)."""
    at_time: dict[datetime, list] = {}
    steps = campaign.steps.filter(
        status__in=OPEN_STEP_STATUSES, due_at__isnull=False
    ).order_by("due_at", "id")
    for step in steps:
        at_time.setdefault(step.due_at, []).append(step)
    notes = []
    for due, together in at_time.items():
        if len(together) < 2:
            continue
        names = [_step_name(s) for s in together]
        notes.append(
            _(
                "The send window puts these steps on the same opening, "
                "%(due)s: %(steps)s. They go out together."
            )
            % {"steps": ", ".join(names), "due": local_time(due, campaign)}
        )
    return notes


def _step_name(step) -> str:
    if step.offset_days is None:
        return step.get_kind_display()
    return f"{step.get_kind_display()} (D-{step.offset_days})"
