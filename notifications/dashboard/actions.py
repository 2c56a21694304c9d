"""The dashboard's buttons: which a user may press now, what each asks, what
it does.

Whether the campaign's status allows an action is the lifecycle table's
(``Campaign.allows``, models.CAMPAIGN_ACTIONS), as for the services and the
admin's buttons; each builder below adds only what depends on the figures,
the deadline or the user (someone outstanding, failed messages, a launch
request from someone else, ...), and the wording.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from audit.models import AuditEntry
from notifications.campaigns import services, steering
from notifications.dashboard.figures import DashboardFigures
from notifications.models import Campaign, CampaignAction


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    question: str
    danger: bool = False


def _approve(
    request: HttpRequest, figures: DashboardFigures, pending: AuditEntry | None
) -> Action | None:
    """A second DPO approves someone else's pending launch request."""
    if not figures.campaign.allows(CampaignAction.APPROVE) or pending is None:
        return None
    if not steering.is_dpo(request.user) or pending.user_id == request.user.pk:
        return None
    question = ngettext(
        "%(who)s asked to launch this campaign. Approve and "
        "launch it now for %(n)s employee?",
        "%(who)s asked to launch this campaign. Approve and "
        "launch it now for %(n)s employees?",
        figures.audience,
    ) % {"who": pending.username, "n": figures.audience}
    return Action(
        CampaignAction.APPROVE.value, str(CampaignAction.APPROVE.label), question
    )


def _launch(
    request: HttpRequest, figures: DashboardFigures, pending: AuditEntry | None
) -> Action | None:
    """Launch, or ask for the launch when a second DPO must approve it; not
    while a request waits."""
    if not figures.campaign.allows(CampaignAction.LAUNCH) or pending is not None:
        return None
    if steering.approval_required():
        return Action(
            CampaignAction.LAUNCH.value,
            _("Ask for launch approval"),
            ngettext(
                "A second DPO must approve the launch. Ask for it now? "
                "%(n)s employee will receive the messages once approved.",
                "A second DPO must approve the launch. Ask for it now? "
                "%(n)s employees will receive the messages once approved.",
                figures.audience,
            )
            % {"n": figures.audience},
        )
    return Action(
        CampaignAction.LAUNCH.value,
        str(CampaignAction.LAUNCH.label),
        ngettext(
            "Launch the campaign? %(n)s employee will receive the "
            "first message at its planned time.",
            "Launch the campaign? %(n)s employees will receive the "
            "first message at its planned time.",
            figures.audience,
        )
        % {"n": figures.audience},
    )


def _pause(
    request: HttpRequest, figures: DashboardFigures, pending: AuditEntry | None
) -> Action | None:
    if not figures.campaign.allows(CampaignAction.PAUSE):
        return None
    return Action(
        CampaignAction.PAUSE.value,
        str(CampaignAction.PAUSE.label),
        _("Pause the campaign? No message goes out until you resume it."),
    )


def _remind(
    request: HttpRequest, figures: DashboardFigures, pending: AuditEntry | None
) -> Action | None:
    """Someone has not acknowledged and the deadline is still ahead."""
    campaign = figures.campaign
    if not campaign.allows(CampaignAction.REMIND):
        return None
    if not figures.outstanding or campaign.deadline <= timezone.now():
        return None
    return Action(
        CampaignAction.REMIND.value,
        str(CampaignAction.REMIND.label),
        ngettext(
            "Send a reminder now to the %(n)s person who has not "
            "acknowledged yet? It goes out within a minute, inside "
            "the send window.",
            "Send a reminder now to the %(n)s people who have not "
            "acknowledged yet? It goes out within a minute, inside "
            "the send window.",
            figures.outstanding,
        )
        % {"n": figures.outstanding},
    )


def _resume(
    request: HttpRequest, figures: DashboardFigures, pending: AuditEntry | None
) -> Action | None:
    """Paused and before the deadline (services.campaign_resumable)."""
    if not services.campaign_resumable(figures.campaign):
        return None
    return Action(
        CampaignAction.RESUME.value,
        str(CampaignAction.RESUME.label),
        _("Resume the campaign? Steps due during the pause go out now."),
    )


def _retry(
    request: HttpRequest, figures: DashboardFigures, pending: AuditEntry | None
) -> Action | None:
    """Some messages failed."""
    failed = figures.total("failed")
    if not failed or not figures.campaign.allows(CampaignAction.RETRY):
        return None
    return Action(
        CampaignAction.RETRY.value,
        str(CampaignAction.RETRY.label),
        ngettext(
            "Try again to send the %(n)s message that failed?",
            "Try again to send the %(n)s messages that failed?",
            failed,
        )
        % {"n": failed},
    )


def _cancel(
    request: HttpRequest, figures: DashboardFigures, pending: AuditEntry | None
) -> Action | None:
    if not figures.campaign.allows(CampaignAction.CANCEL):
        return None
    return Action(
        CampaignAction.CANCEL.value,
        str(CampaignAction.CANCEL.label),
        _(
            "Cancel the campaign? No further message will be sent. "
            "This cannot be undone."
        ),
        danger=True,
    )


# The buttons in the order they appear.
_BUILDERS = (_approve, _launch, _pause, _remind, _resume, _retry, _cancel)


def actions_offered(
    request: HttpRequest, figures: DashboardFigures, *, pending: AuditEntry | None
) -> list[Action]:
    """The buttons this user may press now, with the question each asks.

    ``pending``: the launch request waiting for a second DPO, if any.
    """
    offered = (build(request, figures, pending) for build in _BUILDERS)
    return [action for action in offered if action is not None]


def action_perform(request: HttpRequest, campaign: Campaign, name: str) -> str:
    """Run one action; returns the message for the user (CampaignError out)."""
    user = request.user
    if name == CampaignAction.LAUNCH:
        outcome, enrolled = steering.launch(campaign=campaign, user=user)
        if outcome == steering.REQUESTED:
            return _("Launch requested: a second DPO must approve it.")
        return ngettext(
            "Campaign launched for %(n)s employee.",
            "Campaign launched for %(n)s employees.",
            enrolled,
        ) % {"n": enrolled}
    if name == CampaignAction.APPROVE:
        enrolled = steering.launch_approve(campaign=campaign, user=user)
        return ngettext(
            "Launch approved: campaign launched for %(n)s employee.",
            "Launch approved: campaign launched for %(n)s employees.",
            enrolled,
        ) % {"n": enrolled}
    if name == CampaignAction.REMIND:
        steering.reminder_now(campaign=campaign, user=user)
        return _("Reminder planned now for those who have not acknowledged.")
    if name == CampaignAction.RETRY:
        count = steering.failed_retry(campaign=campaign, user=user)
        return ngettext(
            "%(n)s failed message put back in the queue.",
            "%(n)s failed messages put back in the queue.",
            count,
        ) % {"n": count}
    service: Callable[..., bool] = {
        CampaignAction.PAUSE: services.campaign_pause,
        CampaignAction.RESUME: services.campaign_resume,
        CampaignAction.CANCEL: services.campaign_cancel,
    }[name]
    if not service(campaign=campaign, user=user):
        raise services.CampaignError(
            [
                _("Nothing changed: the campaign is %(status)s.")
                % {"status": campaign.get_status_display()}
            ]
        )
    return {
        CampaignAction.PAUSE: _("Campaign paused."),
        CampaignAction.RESUME: _("Campaign resumed."),
        CampaignAction.CANCEL: _("Campaign cancelled."),
    }[name]
