"""The campaign domain: what is sent, to whom, when, and what happened.

Only the tables, their constraints and the indexes the workers rely on, and
the status sets several stages share. The one rule kept here is the campaign
lifecycle (CAMPAIGN_ACTIONS: which action each status allows), so that the
services' conditional UPDATEs, the admin's buttons and the dashboard's read
the same table; every other rule lives in the stages (services.py,
scheduling.py, content.py, delivery/).

Manager digests: a digest goes to a manager who is often not a recipient of
the campaign (not in the audience, or already acknowledged). Rather than a
second table with its own claiming and retry code, a Delivery has exactly one
of ``recipient`` (first message, reminder, last call) or ``manager`` (digest),
enforced by a check constraint, and each has its own unique constraint with
the step. The sending pipeline then claims, retries and tracks both kinds the
same way.
"""

from __future__ import annotations

import secrets
from datetime import datetime, time

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from common.languages import EU_LANGUAGES
from employees.models import Employee
from notifications.validators import sender_validate

# Crockford-like alphabet without look-alikes (0/O, 1/I/L) so that a reference
# read aloud on the phone or typed from a printed letter is not misread.
_REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REFERENCE_LENGTH = 8


def new_reference() -> str:
    return "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


def default_weekdays() -> list[int]:
    # ISO weekdays as Python counts them: Monday=0 … Sunday=6.
    return [0, 1, 2, 3, 4]


def default_time_zone() -> str:
    return settings.TIME_ZONE


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SCHEDULED = "scheduled", _("Scheduled")
    RUNNING = "running", _("Running")
    FINISHED = "finished", _("Finished")
    PAUSED = "paused", _("Paused")
    CANCELLED = "cancelled", _("Cancelled")


class StepKind(models.TextChoices):
    FIRST = "first", _("First message")
    REMINDER = "reminder", _("Reminder")
    LAST_CALL = "last_call", _("Last call")
    MANAGER_DIGEST = "manager_digest", _("Manager digest")


class StepStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DUE = "due", _("Due")
    DISPATCHING = "dispatching", _("Dispatching")
    DONE = "done", _("Done")
    SKIPPED = "skipped", _("Skipped")
    MISSED = "missed", _("Missed (deadline passed)")


class CampaignAction(models.TextChoices):
    """What a user may do to a campaign (the dashboard's buttons and words)."""

    LAUNCH = "launch", _("Launch")
    APPROVE = "approve", _("Approve the launch")
    PAUSE = "pause", _("Pause")
    RESUME = "resume", _("Resume")
    CANCEL = "cancel", _("Cancel the campaign")
    REMIND = "remind", _("Send the next reminder now")
    RETRY = "retry", _("Retry the failed")


# The lifecycle: which action each status allows, whoever asks and whatever
# the figures. The services' conditional UPDATEs (WHERE status IN …), the
# admin's lifecycle buttons and the dashboard's buttons all read it; what
# depends on the deadline, the figures or the user is checked on top where it
# is known (services.campaign_resumable, steering, the dashboard's actions).
CAMPAIGN_ACTIONS: dict[str, frozenset[str]] = {
    CampaignStatus.DRAFT: frozenset(
        {CampaignAction.LAUNCH, CampaignAction.APPROVE, CampaignAction.CANCEL}
    ),
    CampaignStatus.SCHEDULED: frozenset(
        {
            CampaignAction.PAUSE,
            CampaignAction.REMIND,
            CampaignAction.RETRY,
            CampaignAction.CANCEL,
        }
    ),
    CampaignStatus.RUNNING: frozenset(
        {
            CampaignAction.PAUSE,
            CampaignAction.REMIND,
            CampaignAction.RETRY,
            CampaignAction.CANCEL,
        }
    ),
    # Resuming also needs the deadline ahead to be offered (after it nothing
    # can go out): services.campaign_resumable.
    CampaignStatus.PAUSED: frozenset(
        {CampaignAction.RESUME, CampaignAction.RETRY, CampaignAction.CANCEL}
    ),
    # Failed messages put back in the queue run a finished campaign again.
    CampaignStatus.FINISHED: frozenset({CampaignAction.RETRY}),
    CampaignStatus.CANCELLED: frozenset(),
}


def statuses_allowing(action: str) -> tuple[str, ...]:
    """The statuses ``action`` may start from: the WHERE of its UPDATE."""
    return tuple(
        status for status, actions in CAMPAIGN_ACTIONS.items() if action in actions
    )


# Launched and not ended: the campaign may still send.
LAUNCHED_STATUSES = (
    CampaignStatus.SCHEDULED,
    CampaignStatus.RUNNING,
    CampaignStatus.PAUSED,
)
# Personal links exist (and work until they expire): launched or finished.
LINKS_AVAILABLE = (*LAUNCHED_STATUSES, CampaignStatus.FINISHED)
# A step that may still go out.
OPEN_STEP_STATUSES = (StepStatus.PENDING, StepStatus.DUE)


def acknowledged_late(acknowledged_at: datetime | None, deadline: datetime) -> bool:
    """Late: acknowledged after the deadline (the page, the dashboard, the
    exports and the evidence say so; ``Campaign.closes_at_deadline`` refuses
    it instead)."""
    return acknowledged_at is not None and acknowledged_at > deadline


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")
    BOUNCED = "bounced", _("Bounced")
    DEFERRED = "deferred", _("Deferred")
    COMPLAINED = "complained", _("Complained")
    REJECTED = "rejected", _("Rejected")
    # Not sent on purpose: acknowledged before the send, address known bad,
    # employee deactivated, campaign cancelled.
    SKIPPED = "skipped", _("Skipped")


# The statuses in the index by status (Delivery.Meta): every one but a
# message's end when it went out or was not to go (sent, delivered, skipped).
OPEN_OR_PROBLEM = (
    DeliveryStatus.QUEUED,
    DeliveryStatus.SENDING,
    DeliveryStatus.FAILED,
    DeliveryStatus.BOUNCED,
    DeliveryStatus.DEFERRED,
    DeliveryStatus.COMPLAINED,
    DeliveryStatus.REJECTED,
)


class Campaign(models.Model):
    name = models.CharField(_("name"), max_length=200, unique=True)
    # Printed in every message and checkable on the public /verify/ page, so an
    # employee can tell a genuine campaign from a phishing copy.
    reference = models.CharField(
        _("public reference"),
        max_length=REFERENCE_LENGTH,
        unique=True,
        default=new_reference,
        editable=False,
    )
    template = models.CharField(
        _("created from template"), max_length=64, blank=True, default=""
    )
    deadline = models.DateTimeField(_("deadline"))
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=CampaignStatus.choices,
        default=CampaignStatus.DRAFT,
    )

    # Audience: all active employees, narrowed by each non-empty list.
    departments = models.JSONField(
        _("departments"),
        default=list,
        blank=True,
        help_text=_("Empty: every department."),
    )
    countries = models.JSONField(
        _("countries / sites"),
        default=list,
        blank=True,
        help_text=_("Empty: every country or site."),
    )
    languages = models.JSONField(
        _("languages"),
        default=list,
        blank=True,
        help_text=_("Empty: every language."),
    )

    from_email = models.CharField(
        _("sender address"),
        max_length=254,
        blank=True,
        default="",
        validators=[sender_validate],
        help_text=_("Empty: the server's default sender (DEFAULT_FROM_EMAIL)."),
    )
    reply_to = models.EmailField(_("reply-to address"), blank=True, default="")
    dpo_contact = models.CharField(
        _("DPO contact"),
        max_length=254,
        blank=True,
        default="",
        help_text=_(
            "Shown in every message and page, e.g. dpo@example.com. Empty at "
            "launch: the reply-to address, else the sender, is used."
        ),
    )

    # Send window, in the campaign's time zone.
    window_enabled = models.BooleanField(_("only send inside the window"), default=True)
    window_start = models.TimeField(_("window opens"), default=time(9, 0))
    window_end = models.TimeField(_("window closes"), default=time(17, 0))
    window_weekdays = models.JSONField(
        _("window weekdays"),
        default=default_weekdays,
        blank=True,
        help_text=_("Monday=0 … Sunday=6."),
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, default=default_time_zone
    )

    # After the deadline an acknowledgement is still recorded, marked late;
    # a campaign that closes at its deadline refuses it instead.
    closes_at_deadline = models.BooleanField(
        _("closes at the deadline"),
        default=False,
        help_text=_(
            "Refuse acknowledgements after the deadline. Off: they are "
            "recorded and marked late."
        ),
    )

    asks_answer = models.BooleanField(_("asks a question"), default=False)
    # [{"value": "opted_out", "labels": {"fr": "…", "en": "…"}}, …]
    answer_choices = models.JSONField(_("answer choices"), default=list, blank=True)
    answer_required = models.BooleanField(
        _("an answer is required"),
        default=False,
        help_text=_("Off: the employee may acknowledge without choosing an answer."),
    )

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    launched_at = models.DateTimeField(_("launched"), null=True, blank=True)
    paused_at = models.DateTimeField(_("paused"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-deadline", "name"]
        indexes = [models.Index(fields=["status"], name="campaign_status")]
        # A personal link lets anyone acknowledge in its owner's name:
        # exporting or printing links is a permission of its own (DPO).
        permissions = [
            ("export_links", _("Can export or print personal links")),
        ]

    def __str__(self) -> str:
        return self.name

    def allows(self, action: str) -> bool:
        """Whether the campaign's status allows ``action`` (CAMPAIGN_ACTIONS)."""
        return action in CAMPAIGN_ACTIONS.get(self.status, frozenset())

    def actions_allowed(self) -> list[CampaignAction]:
        """The actions its status allows, in CampaignAction's order."""
        return [action for action in CampaignAction if self.allows(action)]


class CampaignContent(models.Model):
    """One version of the text of a campaign in one language.

    Rows are never edited after launch: a change creates a new version and
    moves ``is_current``, so what each person received stays provable through
    the version (and its hash) recorded on their Delivery.
    """

    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="contents",
    )
    language = models.CharField(_("language"), max_length=8, choices=EU_LANGUAGES)
    version = models.PositiveIntegerField(_("version"), default=1)
    subject = models.CharField(_("subject"), max_length=255)
    body_text = models.TextField(_("message (plain text)"))
    body_html = models.TextField(
        _("message (HTML)"),
        blank=True,
        default="",
        help_text=_("Optional: generated from the plain text when empty."),
    )
    page_text = models.TextField(_("acknowledgement page text"))
    sha256 = models.CharField(_("SHA-256"), max_length=64, editable=False)
    is_current = models.BooleanField(_("current"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("message content")
        verbose_name_plural = _("message contents")
        ordering = ["campaign", "language", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "language", "version"],
                name="content_version_unique",
            ),
            # At most one current text per language; two admins saving at
            # once cannot both become current.
            models.UniqueConstraint(
                fields=["campaign", "language"],
                condition=Q(is_current=True),
                name="content_one_current",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} [{self.language}] v{self.version}"


class Step(models.Model):
    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="steps",
    )
    kind = models.CharField(_("kind"), max_length=16, choices=StepKind.choices)
    # Exactly one of the two: N days before the deadline, or an absolute time.
    offset_days = models.PositiveIntegerField(
        _("days before the deadline"), null=True, blank=True
    )
    at = models.DateTimeField(_("at (absolute)"), null=True, blank=True)
    # Effective time, computed by scheduling.py: the nominal time moved to the
    # next send-window opening. The dispatcher only compares it with now.
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=StepStatus.choices,
        default=StepStatus.PENDING,
    )
    status_reason = models.CharField(
        _("reason"), max_length=255, blank=True, default=""
    )
    dispatched_at = models.DateTimeField(_("dispatched"), null=True, blank=True)
    done_at = models.DateTimeField(_("done"), null=True, blank=True)

    class Meta:
        verbose_name = _("step")
        verbose_name_plural = _("steps")
        ordering = ["campaign", "due_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(offset_days__isnull=False, at__isnull=True)
                | Q(offset_days__isnull=True, at__isnull=False),
                name="step_offset_xor_at",
            ),
        ]
        indexes = [
            # The dispatcher's tick: pending/due steps whose time has come.
            models.Index(fields=["status", "due_at"], name="step_status_due"),
        ]

    def __str__(self) -> str:
        if self.offset_days is not None:
            when = f"D-{self.offset_days}"
        else:  # local, as the audit log's Date column beside this label
            when = f"{timezone.localtime(self.at):%Y-%m-%d %H:%M %Z}"
        return f"{self.get_kind_display()} ({when})"


class Recipient(models.Model):
    """One employee in one campaign, with the snapshot used to write to them."""

    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="recipients",
    )
    # PROTECT: a recipient row is evidence (GDPR art. 5(2)); employees leave
    # by deactivation, not deletion.
    employee = models.ForeignKey(
        "employees.Employee",
        verbose_name=_("employee"),
        on_delete=models.PROTECT,
        related_name="recipients",
    )
    email = models.EmailField(_("email"), max_length=254)
    language = models.CharField(_("language"), max_length=8)
    first_name = models.CharField(
        _("first name"), max_length=150, blank=True, default=""
    )
    last_name = models.CharField(_("last name"), max_length=150, blank=True, default="")
    # The personal link's token is never stored: a random seed is, and the
    # token is an HMAC of it under a server key (see tokens.py), so a database
    # dump alone reveals no working link while every message of the campaign
    # can still carry the same link. token_hash finds the recipient from a link.
    token_seed = models.CharField(max_length=64, editable=False)
    token_hash = models.CharField(
        max_length=64, unique=True, null=True, blank=True, editable=False
    )
    enrolled_at = models.DateTimeField(_("enrolled"), auto_now_add=True)
    acknowledged_at = models.DateTimeField(_("acknowledged"), null=True, blank=True)
    answer = models.CharField(_("answer"), max_length=64, blank=True, default="")
    content_version_seen = models.ForeignKey(
        CampaignContent,
        verbose_name=_("content version seen"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        verbose_name = _("recipient")
        verbose_name_plural = _("recipients")
        ordering = ["campaign", "last_name", "first_name", "email"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "employee"], name="recipient_once_per_campaign"
            ),
        ]
        indexes = [
            # Reminders select the unacknowledged of a campaign.
            models.Index(
                fields=["campaign", "acknowledged_at"], name="recipient_campaign_ack"
            ),
            # The dashboard's people list, in its order: page 1 of a
            # 1,000,000-person campaign reads 50 entries, not a sort of all.
            models.Index(
                fields=["campaign", "last_name", "first_name", "email", "id"],
                name="recipient_people_order",
            ),
        ]

    def __str__(self) -> str:
        return self.email


class Delivery(models.Model):
    """One message of one step to one person; the idempotency key of sending.

    Exactly one of ``recipient`` (messages to the audience) or ``manager``
    (manager digests) is set; see the module docstring.
    """

    # No index of their own on these three foreign keys: (step, status) and
    # the two unique constraints start with them and serve the same lookups.
    # Every status change of a message writes a new entry in each index of
    # the row (the status is indexed, so no update is HOT) unless the row is
    # outside a partial index's condition: hence the conditions below, which
    # keep a message's INSERT, claim and "sent" out of the indexes that
    # cannot concern it (a digest's manager, a content version not chosen
    # yet, a sweeper or problem status it is not in): 19 index entries
    # written in a message's life (insert, claim, sent) became 13.
    step = models.ForeignKey(
        Step,
        verbose_name=_("step"),
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,
    )
    recipient = models.ForeignKey(
        Recipient,
        verbose_name=_("recipient"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,
    )
    manager = models.ForeignKey(
        "employees.Employee",
        verbose_name=_("manager"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="digest_deliveries",
        db_index=False,
    )
    # Snapshot of where and in which language it went.
    to_email = models.EmailField(_("to"), max_length=254, blank=True, default="")
    language = models.CharField(_("language"), max_length=8, blank=True, default="")
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=DeliveryStatus.choices,
        default=DeliveryStatus.QUEUED,
    )
    content = models.ForeignKey(
        CampaignContent,
        verbose_name=_("content version"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="deliveries",
        db_index=False,  # delivery_content below: only rows that went out
    )
    content_sha256 = models.CharField(
        _("content SHA-256"), max_length=64, blank=True, default=""
    )
    esp_message_id = models.CharField(
        _("ESP message id"), max_length=255, blank=True, default=""
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True, default="")
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    status_at = models.DateTimeField(_("status changed"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["step", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(recipient__isnull=False, manager__isnull=True)
                | Q(recipient__isnull=True, manager__isnull=False),
                name="delivery_recipient_xor_manager",
            ),
            # Rows are written with ON CONFLICT DO NOTHING (no conflict
            # target), which a partial unique index serves as well.
            models.UniqueConstraint(
                fields=["recipient", "step"], name="delivery_once_per_recipient_step"
            ),
            # Only manager digests have a manager.
            models.UniqueConstraint(
                fields=["manager", "step"],
                condition=Q(manager__isnull=False),
                name="delivery_once_per_manager_step",
            ),
        ]
        indexes = [
            # Claiming a chunk of a step's queued rows; the status figures.
            models.Index(fields=["step", "status"], name="delivery_step_status"),
            # By status across campaigns: the enqueue leases (queued), the
            # sweeper (rows stuck in "sending" since before a cutoff), the
            # problem addresses (bounced, complained, rejected). A message
            # that went out (sent, delivered) or was skipped leaves it.
            models.Index(
                fields=["status", "claimed_at"],
                condition=Q(status__in=OPEN_OR_PROBLEM),
                name="delivery_status_claim",
            ),
            # A content version's deliveries (its PROTECT on deletion): set
            # when the message is rendered for sending.
            models.Index(
                fields=["content"],
                condition=Q(content__isnull=False),
                name="delivery_content",
            ),
            # Tracking webhooks find the row by the ESP's id.
            models.Index(
                fields=["esp_message_id"],
                condition=~Q(esp_message_id=""),
                name="delivery_esp_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.step} → {self.to_email or self.pk}"


class AcknowledgementKind(models.TextChoices):
    FIRST = "first", _("Acknowledged")
    ANSWER_CHANGED = "answer_changed", _("Answer changed")
    # Entered by a DPO in the admin, with the reason in the audit log (a
    # signed paper letter, an answer given by phone, a mistaken entry).
    CORRECTED = "corrected", _("Recorded by hand")
    WITHDRAWN = "withdrawn", _("Withdrawn by hand")


class Acknowledgement(models.Model):
    """Every acknowledgement and answer change, never edited: the history.

    Recipient.acknowledged_at keeps the first time; a recipient who changes
    their answer before the deadline adds a row here and updates
    Recipient.answer. Client address and user agent stay empty unless the
    organisation turns ACK_RECORD_CLIENT_INFO on (data minimisation).
    """

    recipient = models.ForeignKey(
        Recipient,
        verbose_name=_("recipient"),
        on_delete=models.CASCADE,
        related_name="acknowledgements",
    )
    kind = models.CharField(
        _("kind"), max_length=16, choices=AcknowledgementKind.choices
    )
    at = models.DateTimeField(_("at"))
    answer = models.CharField(_("answer"), max_length=64, blank=True, default="")
    content = models.ForeignKey(
        CampaignContent,
        verbose_name=_("content version seen"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    language = models.CharField(
        _("page language"), max_length=8, blank=True, default=""
    )
    client_ip = models.GenericIPAddressField(_("client address"), null=True, blank=True)
    user_agent = models.CharField(
        _("user agent"), max_length=255, blank=True, default=""
    )

    class Meta:
        verbose_name = _("acknowledgement")
        verbose_name_plural = _("acknowledgements")
        ordering = ["recipient", "at", "id"]

    def __str__(self) -> str:
        at = timezone.localtime(self.at)  # as the audit log's Date column
        return f"{self.recipient} {self.get_kind_display()} {at:%Y-%m-%d %H:%M %Z}"


class BadAddress(Employee):
    """Employees whose address bounced or complained, for HR to fix (admin).

    A proxy so the list lives with the campaigns without touching the staff
    directory's own admin.
    """

    class Meta:
        proxy = True
        verbose_name = _("bad address")
        verbose_name_plural = _("bad addresses")
