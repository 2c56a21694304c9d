"""Functions that write the campaign domain.

Admin actions, management commands and the dispatcher call these; each state
change is a conditional UPDATE (``WHERE status IN …``, the statuses the
lifecycle table models.CAMPAIGN_ACTIONS allows the action from) so a double
click, two admins or a repeated task change the campaign once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import get_connection
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from audit.models import AuditAction
from audit.services import audit_record
from events.outbox import emit
from notifications.campaigns import content as content_mod
from notifications.campaigns import scheduling
from notifications.campaigns.library import TEMPLATES, configured_languages
from notifications.campaigns.selectors import (
    LINKS_ALL,
    LINKS_PENDING,
    audience_languages,
    campaign_audience,
)
from notifications.campaigns.tokens import token_from_seed, token_hash, token_seed_new
from notifications.models import (
    LAUNCHED_STATUSES,
    Campaign,
    CampaignAction,
    CampaignContent,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Recipient,
    Step,
    StepKind,
    StepStatus,
    statuses_allowing,
)

logger = logging.getLogger(__name__)

ENROL_BATCH_SIZE = 1000


class CampaignError(ValidationError):
    """A refused state change; ``messages`` holds the reasons for the user."""


@dataclass(frozen=True)
class WindowSpec:
    enabled: bool = True
    start: time = time(9, 0)
    end: time = time(17, 0)

    @classmethod
    def parse(cls, text: str) -> WindowSpec:
        """``HH:MM-HH:MM`` or ``always``."""
        if text.strip().lower() == "always":
            return cls(enabled=False)
        try:
            start, end = (time.fromisoformat(p.strip()) for p in text.split("-"))
        except ValueError as exc:
            raise ValidationError(
                _("Send window must be HH:MM-HH:MM or “always”, not %(text)s.")
                % {"text": text}
            ) from exc
        if start >= end:
            raise ValidationError(_("The send window must open before it closes."))
        return cls(enabled=True, start=start, end=end)


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


# The webhook each lifecycle action sends (events/catalogue.py).
_EVENTS = {
    CampaignAction.LAUNCH: "campaign.launched",
    CampaignAction.PAUSE: "campaign.paused",
    CampaignAction.RESUME: "campaign.resumed",
    CampaignAction.CANCEL: "campaign.cancelled",
}


def _transition(
    campaign: Campaign,
    *,
    action: CampaignAction,
    to: str,
    audit: tuple[str, object] | None = None,
    **fields: object,
) -> bool:
    """Take ``action`` if the campaign's status allows it (CAMPAIGN_ACTIONS).

    ``audit``: (action, user) to record in the audit log when it changed.
    """
    before = campaign.status
    allowed = statuses_allowing(action)
    event = _EVENTS.get(action)
    with transaction.atomic():
        changed = Campaign.objects.filter(pk=campaign.pk, status__in=allowed).update(
            status=to, updated_at=timezone.now(), **fields
        )
        campaign.refresh_from_db()
        if changed == 1 and audit is not None:
            action, user = audit
            audit_record(
                actor=user,
                action=action,
                target=campaign,
                before={"status": before},
                after={"status": campaign.status},
            )
        if changed == 1 and event:
            emit(event, campaign_event_data(campaign))
    return changed == 1


def campaign_event_data(campaign: Campaign) -> dict:
    """What a campaign's webhook says of it: ids and reference, no person."""
    return {
        "campaign_id": campaign.pk,
        "reference": campaign.reference,
        "name": campaign.name,
        "status": campaign.status,
    }


def _content_audit(
    user: object | None,
    campaign: Campaign,
    before: CampaignContent | None,
    after: CampaignContent,
) -> None:
    def state(content: CampaignContent | None) -> dict | None:
        if content is None:
            return None
        return {
            "language": content.language,
            "version": content.version,
            "sha256": content.sha256,
        }

    audit_record(
        actor=user,
        action=AuditAction.CONTENT_CHANGE,
        target=campaign,
        before=state(before),
        after=state(after),
    )


# --- Steps -----------------------------------------------------------------


def _step_plan(campaign: Campaign, step: Step, now: datetime) -> scheduling.StepPlan:
    return scheduling.step_plan(
        kind=step.kind,
        nominal=scheduling.step_nominal_time(
            offset_days=step.offset_days,
            at=step.at,
            deadline=campaign.deadline,
            tz=ZoneInfo(campaign.time_zone),
        ),
        deadline=campaign.deadline,
        window=scheduling.window_for(campaign),
        now=now,
    )


def steps_default(*, campaign: Campaign) -> list[Step]:
    steps = [
        Step(campaign=campaign, kind=kind, offset_days=days)
        for kind, days in scheduling.DEFAULT_CADENCE
    ]
    return Step.objects.bulk_create(steps)


def _steps_save_plans(campaign: Campaign, steps: list[Step], now: datetime) -> None:
    for step in steps:
        plan = _step_plan(campaign, step, now)
        step.due_at, step.status, step.status_reason = (
            plan.due_at,
            plan.status,
            plan.reason,
        )
    Step.objects.bulk_update(steps, ["due_at", "status", "status_reason"])


def steps_plan(*, campaign: Campaign, now: datetime | None = None) -> list[Step]:
    """Recompute every pending step's due time and status (launch, edits)."""
    now = _now(now)
    steps = list(campaign.steps.filter(status=StepStatus.PENDING))
    _steps_save_plans(campaign, steps, now)
    return steps


def steps_preview(*, campaign: Campaign, now: datetime | None = None) -> None:
    """Fill due_at of a draft's steps without changing their status."""
    steps = list(campaign.steps.all())
    for step in steps:
        step.due_at = _step_plan(campaign, step, _now(now)).due_at
    Step.objects.bulk_update(steps, ["due_at"])


def steps_replan(*, campaign: Campaign, now: datetime | None = None) -> None:
    """After an edit of the deadline, window or steps.

    A draft previews every step. After launch only pending steps still in
    the future (or new) are re-planned: one whose time has come belongs to
    the dispatcher and must not be skipped by an unrelated edit.
    """
    if campaign.status == CampaignStatus.DRAFT:
        steps_preview(campaign=campaign, now=now)
        return
    now = _now(now)
    steps = list(
        campaign.steps.filter(status=StepStatus.PENDING).filter(
            Q(due_at__isnull=True) | Q(due_at__gt=now)
        )
    )
    _steps_save_plans(campaign, steps, now)


# --- Content ---------------------------------------------------------------


def content_save(
    *,
    campaign: Campaign,
    language: str,
    fields: dict[str, str],
    user: object | None = None,
) -> CampaignContent:
    """Save one language's text; after launch a change is a new version.

    Before launch nobody received anything, so the draft's row is edited in
    place. After launch the current row is frozen (deliveries point at it) and
    a new version becomes current. Saving identical text changes nothing.
    """
    content_mod.content_validate(fields)
    values = content_mod.content_normalise(fields)
    digest = content_mod.content_sha256(language=language, fields=values)
    with transaction.atomic():
        current = (
            CampaignContent.objects.select_for_update()
            .filter(campaign=campaign, language=language, is_current=True)
            .first()
        )
        if current and current.sha256 == digest:
            return current
        if current and campaign.status == CampaignStatus.DRAFT:
            previous = CampaignContent(
                language=language, version=current.version, sha256=current.sha256
            )
            for name, value in values.items():
                setattr(current, name, value)
            current.sha256 = digest
            current.save()
            _content_audit(user, campaign, previous, current)
            return current
        version = 1
        if current:
            version = current.version + 1
            CampaignContent.objects.filter(pk=current.pk).update(is_current=False)
        created = CampaignContent.objects.create(
            campaign=campaign,
            language=language,
            version=version,
            sha256=digest,
            is_current=True,
            created_by=user if getattr(user, "pk", None) else None,
            **values,
        )
        _content_audit(user, campaign, current, created)
        return created


# --- Creation --------------------------------------------------------------


def campaign_create(
    *,
    name: str,
    deadline: datetime,
    template: str = "",
    departments: list[str] | None = None,
    countries: list[str] | None = None,
    languages: list[str] | None = None,
    window: WindowSpec | None = None,
    from_email: str = "",
    reply_to: str = "",
    dpo_contact: str = "",
    time_zone: str = "",
    created_by: object | None = None,
) -> Campaign:
    """A draft campaign with the default cadence, from a template if given."""
    if template and template not in TEMPLATES:
        raise ValidationError(
            _("Unknown template %(template)s. Available: %(available)s.")
            % {"template": template, "available": ", ".join(TEMPLATES)}
        )
    if Campaign.objects.filter(name=name).exists():
        raise ValidationError(
            _("A campaign named %(name)s already exists.") % {"name": name}
        )
    window = window or WindowSpec()
    source = TEMPLATES.get(template)
    with transaction.atomic():
        campaign = Campaign.objects.create(
            name=name,
            deadline=deadline,
            template=template,
            departments=departments or [],
            countries=countries or [],
            languages=languages or [],
            window_enabled=window.enabled,
            window_start=window.start,
            window_end=window.end,
            from_email=from_email,
            reply_to=reply_to,
            dpo_contact=dpo_contact,
            time_zone=time_zone or settings.TIME_ZONE,
            asks_answer=source.asks_answer if source else False,
            answer_choices=(
                source.answer_choices_for(configured_languages()) if source else []
            ),
            created_by=created_by if getattr(created_by, "pk", None) else None,
        )
        steps_default(campaign=campaign)
        steps_preview(campaign=campaign)
        audit_record(
            actor=created_by,
            action=AuditAction.CAMPAIGN_CREATE,
            target=campaign,
            after={"name": name, "template": template, "deadline": deadline},
        )
        if source:
            template_apply(campaign=campaign, template=template, user=created_by)
    return campaign


def template_apply(
    *, campaign: Campaign, template: str, user: object | None = None
) -> None:
    """The template's texts and answers in the configured languages it has
    (an organisation narrowing its languages gets no content it cannot edit)."""
    source = TEMPLATES[template]
    languages = configured_languages()
    for language, fields in source.contents_for(languages).items():
        content_save(campaign=campaign, language=language, fields=fields, user=user)
    Campaign.objects.filter(pk=campaign.pk).update(
        template=template,
        asks_answer=source.asks_answer,
        answer_choices=source.answer_choices_for(languages),
    )
    campaign.refresh_from_db()


# --- Launch ----------------------------------------------------------------


def campaign_launch_problems(
    *, campaign: Campaign, now: datetime | None = None
) -> list[str]:
    """Why launching now would be refused; empty when it can go."""
    now = _now(now)
    problems: list[str] = []
    current = {c.language: c for c in campaign.contents.filter(is_current=True)}
    if not current:
        problems.append(_("The campaign has no message content."))
    elif settings.LANGUAGE_CODE not in current:
        for language in audience_languages(campaign):
            if language not in current:
                problems.append(
                    _(
                        "Employees speak %(language)s but there is no content in it "
                        "nor in the default language (%(default)s)."
                    )
                    % {"language": language, "default": settings.LANGUAGE_CODE}
                )
    for content in current.values():
        fields = {name: getattr(content, name) for name in content_mod.CONTENT_FIELDS}
        for field, errors in content_mod.content_errors(fields).items():
            problems.extend(f"[{content.language}] {field}: {e}" for e in errors)
    if not campaign_audience(campaign).exists():
        problems.append(_("No active employee matches the audience."))
    if campaign.deadline <= now:
        problems.append(_("The deadline has passed."))
    first = campaign.steps.filter(kind=StepKind.FIRST).first()
    if first is None:
        problems.append(_("The campaign has no first-message step."))
    elif campaign.deadline > now:
        tz = ZoneInfo(campaign.time_zone)
        plan = _step_plan(campaign, first, now)
        if plan.status == StepStatus.MISSED:
            problems.append(
                _(
                    "The first message could not go out before the deadline "
                    "(next send-window opening: %(due)s)."
                )
                % {"due": plan.due_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")}
            )
    return problems


def campaign_launch(
    *, campaign: Campaign, user: object | None = None, now: datetime | None = None
) -> int:
    """Plan the steps, enrol the audience, move draft → scheduled.

    Returns the number of recipients enrolled. Raises CampaignError with the
    reasons when refused.
    """
    now = _now(now)
    problems = campaign_launch_problems(campaign=campaign, now=now)
    if problems:
        raise CampaignError(problems)
    # Every message and page shows whom to ask: with no DPO contact given,
    # the address replies go to (else the sender) becomes it at launch.
    contact = campaign.dpo_contact or (
        campaign.reply_to or campaign.from_email or settings.DEFAULT_FROM_EMAIL
    )
    with transaction.atomic():
        if not _transition(
            campaign,
            action=CampaignAction.LAUNCH,
            to=CampaignStatus.SCHEDULED,
            audit=(AuditAction.CAMPAIGN_LAUNCH, user),
            launched_at=now,
            dpo_contact=contact,
        ):
            raise CampaignError(
                [
                    _("Only a draft can be launched (this one is %(status)s).")
                    % {"status": campaign.get_status_display()}
                ]
            )
        steps_plan(campaign=campaign, now=now)
        enrolled = campaign_enrol_new(campaign)
    logger.info("campaign %s launched, %s recipients", campaign.pk, enrolled)
    return enrolled


def campaign_enrol_new(campaign: Campaign) -> int:
    """Enrol active audience members not yet recipients; returns how many.

    Called at launch and by the dispatcher before each step, so employees
    added to the directory after launch join at the next step. Bulk inserts
    with ON CONFLICT DO NOTHING: two dispatchers enrolling at once are safe.
    """
    if campaign.status not in (*LAUNCHED_STATUSES, CampaignStatus.DRAFT):
        return 0
    missing = (
        campaign_audience(campaign)
        .exclude(recipients__campaign=campaign)
        .values_list("id", "email", "language", "first_name", "last_name")
    )
    created = 0
    batch: list[Recipient] = []
    for employee_id, email, language, first_name, last_name in missing.iterator(
        chunk_size=ENROL_BATCH_SIZE
    ):
        seed = token_seed_new()
        batch.append(
            Recipient(
                campaign=campaign,
                employee_id=employee_id,
                email=email,
                language=language,
                first_name=first_name,
                last_name=last_name,
                token_seed=seed,
                token_hash=token_hash(token_from_seed(seed)),
            )
        )
        if len(batch) >= ENROL_BATCH_SIZE:
            created += _insert_recipients(batch)
            batch = []
    if batch:
        created += _insert_recipients(batch)
    return created


def _insert_recipients(batch: list[Recipient]) -> int:
    Recipient.objects.bulk_create(batch, ignore_conflicts=True)
    return len(batch)


def recipient_token(recipient: Recipient) -> str:
    """The clear token of a recipient's personal link."""
    return token_from_seed(recipient.token_seed)


# --- Lifecycle ---------------------------------------------------------------


def campaign_pause(
    *, campaign: Campaign, user: object | None = None, now: datetime | None = None
) -> bool:
    return _transition(
        campaign,
        action=CampaignAction.PAUSE,
        to=CampaignStatus.PAUSED,
        audit=(AuditAction.CAMPAIGN_PAUSE, user),
        paused_at=_now(now),
    )


def campaign_resumable(campaign: Campaign) -> bool:
    """Whether to offer "Resume": allowed by the status (paused), and before
    the deadline (after it nothing can go out; the dispatcher finishes the
    campaign instead). campaign_resume itself takes any paused campaign."""
    return campaign.allows(CampaignAction.RESUME) and campaign.deadline > timezone.now()


def campaign_resume(*, campaign: Campaign, user: object | None = None) -> bool:
    """Paused → running if a step went out already, else scheduled.

    Steps whose time came during the pause go at the dispatcher's next tick
    inside the window; those that can no longer go before the deadline are
    reported missed by the dispatcher.
    """
    started = campaign.steps.exclude(
        status__in=(StepStatus.PENDING, StepStatus.SKIPPED, StepStatus.MISSED)
    ).exists()
    return _transition(
        campaign,
        action=CampaignAction.RESUME,
        to=CampaignStatus.RUNNING if started else CampaignStatus.SCHEDULED,
        audit=(AuditAction.CAMPAIGN_RESUME, user),
        paused_at=None,
    )


def campaign_cancel(
    *, campaign: Campaign, user: object | None = None, now: datetime | None = None
) -> bool:
    now = _now(now)
    with transaction.atomic():
        if not _transition(
            campaign,
            action=CampaignAction.CANCEL,
            to=CampaignStatus.CANCELLED,
            audit=(AuditAction.CAMPAIGN_CANCEL, user),
            cancelled_at=now,
        ):
            return False
        cancelled_skip(
            steps=campaign.steps.filter(
                status__in=(StepStatus.PENDING, StepStatus.DUE)
            ),
            deliveries=Delivery.objects.filter(step__campaign=campaign),
            now=now,
        )
    return True


def cancelled_skip(
    *, steps: QuerySet[Step], deliveries: QuerySet[Delivery], now: datetime
) -> None:
    """What a cancellation leaves of a campaign: ``steps`` skipped, and the
    queued rows of ``deliveries`` too (not yet claimed, they will not be
    sent; a row already "sending" is in a worker's hands and finishes). Also
    the dispatcher's, for the rows of a step it wrote after the
    cancellation (dispatch._step_heartbeat)."""
    reason = gettext_noop("Campaign cancelled.")
    steps.update(status=StepStatus.SKIPPED, status_reason=reason)
    deliveries.filter(status=DeliveryStatus.QUEUED).update(
        status=DeliveryStatus.SKIPPED, last_error=reason, status_at=now
    )


# --- Preview and test ------------------------------------------------------


def digest_reports(*, campaign: Campaign, manager: object) -> list[Recipient]:
    """A manager's direct reports who have not acknowledged (active ones).

    Before launch (a preview), the reports in the audience stand in.
    """
    if campaign.status == CampaignStatus.DRAFT:
        return [
            Recipient(first_name=e.first_name, last_name=e.last_name, email=e.email)
            for e in campaign_audience(campaign).filter(manager=manager)
        ]
    return list(
        Recipient.objects.filter(
            campaign=campaign,
            employee__manager=manager,
            employee__is_active=True,
            acknowledged_at__isnull=True,
        ).order_by("last_name", "first_name")
    )


# Not a token (too short, and not base64 of 32 bytes): the link page answers
# it with the neutral 404, like any unknown link.
SAMPLE_LINK_KEY = "preview-link"


def message_for_employee(
    *, step: Step, employee: object, now: datetime | None = None
) -> content_mod.RenderedMessage:
    """What ``employee`` would receive at ``step``, for a preview or a test.

    The link is always a sample (``SAMPLE_LINK_KEY``, a neutral 404), never the
    person's own: a preview is open to viewers, and a test message in the
    admin's mailbox must not let its reader acknowledge for someone. Days
    left are counted from the step's due time when it is still ahead.
    """
    campaign = step.campaign
    now = _now(now)
    if step.due_at is not None and now < step.due_at <= campaign.deadline:
        now = step.due_at
    if step.kind == StepKind.MANAGER_DIGEST:
        reports = [
            content_mod.DigestLine(r.first_name, r.last_name, r.email)
            for r in digest_reports(campaign=campaign, manager=employee)
        ]
        return content_mod.digest_render(
            campaign=campaign,
            language=employee.language,
            manager_first_name=employee.first_name,
            reports=reports,
            now=now,
        )
    content = content_mod.content_current(campaign, employee.language)
    if content is None:
        raise CampaignError([_("The campaign has no message content.")])
    return content_mod.message_render(
        campaign=campaign,
        content=content,
        kind=step.kind,
        first_name=employee.first_name,
        last_name=employee.last_name,
        token=SAMPLE_LINK_KEY,
        now=now,
    )


def campaign_send_test(
    *, step: Step, employee: object, to: str, now: datetime | None = None
) -> None:
    """Send one message of ``step``, as ``employee`` would get it, to ``to``."""
    message = message_for_employee(step=step, employee=employee, now=now)
    email = content_mod.email_build(message, campaign=step.campaign, to=to)
    prefix = _("TEST")
    email.subject = f"[{prefix}] {email.subject}"
    email.connection = get_connection()
    email.send()


def links_export_record(
    *, campaign: Campaign, actor: object, pending: bool, count: int, form: str
) -> None:
    """A personal link lets anyone acknowledge in its owner's name: every
    export or print of links is in the ledger (who, which campaign, how many,
    pending only or all), and the evidence marks the acknowledgements made
    with a link handled so (selectors.links_exported_before)."""
    audit_record(
        actor=actor,
        action=AuditAction.LINKS_EXPORT,
        target=campaign,
        after={
            "format": form,
            "scope": LINKS_PENDING if pending else LINKS_ALL,
            "links": count,
        },
    )
