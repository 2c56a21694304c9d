"""The audit log and the tamper-evident chain of evidence.

One append-only chain holds every administrative action (``AuditEntry``) and
"seals" of the campaign records (deliveries and recipients, see chain.py).
Each entry stores ``record_sha256`` (a hash of its own fields) and
``entry_sha256 = sha256(previous entry_sha256 + record_sha256)``; the single
``ChainHead`` row is locked while appending so two writers never fork it.

Personal fields (names, addresses, free text about a person) never enter a
hash directly: a record hashes its non-personal fields together with
``personal_sha256``, a salted hash of the personal ones computed at write
time. Erasing a person blanks the personal fields and forgets the salt; the
stored ``personal_sha256`` keeps every record hash, and so the chain,
verifiable (chain.py explains the trade-off).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

GENESIS = "0" * 64


class AuditAction(models.TextChoices):
    IMPORT = "import", _("Staff import")
    CAMPAIGN_CREATE = "campaign_create", _("Campaign created")
    CAMPAIGN_EDIT = "campaign_edit", _("Campaign edited")
    CAMPAIGN_LAUNCH = "campaign_launch", _("Campaign launched")
    CAMPAIGN_PAUSE = "campaign_pause", _("Campaign paused")
    CAMPAIGN_RESUME = "campaign_resume", _("Campaign resumed")
    CAMPAIGN_CANCEL = "campaign_cancel", _("Campaign cancelled")
    CONTENT_CHANGE = "content_change", _("Message content changed")
    EXPORT = "export", _("Export")
    EVIDENCE_EXPORT = "evidence_export", _("Evidence exported")
    ACK_CORRECTION = "ack_correction", _("Acknowledgement corrected")
    ACCESS_EXPORT = "access_export", _("Personal data exported (right of access)")
    ERASURE = "erasure", _("Personal data erased")
    PURGE = "purge", _("Expired data anonymised")
    SEAL = "seal", _("Records sealed into the chain")
    LAUNCH_APPROVAL = "launch_approval", _("Launch approved")
    EMPLOYEE_CHANGE = "employee_change", _("Employee changed in the admin")
    LINKS_EXPORT = "links_export", _("Personal links exported or printed")
    SSO_LOGIN = "sso_login", _("Signed in through the identity provider")
    SSO_REFUSED = "sso_refused", _("Sign-in through the identity provider refused")
    ROLE_CHANGE = "role_change", _("Roles changed by the identity provider")
    BREAK_GLASS = "break_glass", _("Emergency password login granted")
    SCIM_CHANGE = "scim_change", _("Employee changed by SCIM provisioning")
    SCIM_TOKEN_CHANGE = "scim_token_change", _("SCIM token created or revoked")
    API_KEY_CHANGE = "api_key_change", _("API key created, changed or revoked")
    WEBHOOK_CHANGE = "webhook_change", _("Webhook endpoint changed")


class ChainHead(models.Model):
    """The one row locked by every append (``SELECT … FOR UPDATE``)."""

    seq = models.PositiveBigIntegerField(default=0)
    entry_sha256 = models.CharField(max_length=64, default=GENESIS)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"#{self.seq} {self.entry_sha256}"


class AuditEntry(models.Model):
    seq = models.PositiveBigIntegerField(_("number"), unique=True, editable=False)
    created_at = models.DateTimeField(_("when"), editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # As text too: the log must still say who after the account is deleted;
    # "system" for the scheduler, the OS user for a command.
    username = models.CharField(_("who"), max_length=150, blank=True, default="")
    action = models.CharField(_("action"), max_length=32, choices=AuditAction.choices)
    target_type = models.CharField(
        _("object type"), max_length=100, blank=True, default=""
    )
    target_id = models.CharField(_("object id"), max_length=64, blank=True, default="")
    # The employee the entry is about, if any: what an erasure redacts.
    subject_employee_id = models.BigIntegerField(
        _("employee concerned"), null=True, blank=True, db_index=True
    )
    # Personal fields: hashed through personal_sha256 only.
    target_repr = models.CharField(_("object"), max_length=255, blank=True, default="")
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True, default="")
    personal_salt = models.CharField(max_length=32, blank=True, default="")
    personal_sha256 = models.CharField(max_length=64)
    redacted_at = models.DateTimeField(_("redacted"), null=True, blank=True)
    # Chain.
    record_sha256 = models.CharField(_("record hash"), max_length=64)
    prev_sha256 = models.CharField(_("previous hash"), max_length=64)
    entry_sha256 = models.CharField(_("chain hash"), max_length=64)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-seq"]
        default_permissions = ("view",)
        permissions = [
            ("export_evidence", _("Can export campaign evidence")),
            ("export_personal_data", _("Can export an employee's personal data")),
            ("erase_personal_data", _("Can erase an employee's personal data")),
            (
                "correct_acknowledgement",
                _("Can record or withdraw an acknowledgement by hand"),
            ),
        ]
        indexes = [
            models.Index(fields=["action", "created_at"], name="audit_action_time"),
            models.Index(fields=["target_type", "target_id"], name="audit_target"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.get_action_display()}"


class SealedRecord(models.Model):
    """The hash of one domain row (a delivery, a recipient) as it was when sealed.

    Append-only: a row whose state changed (delivered, acknowledged) gets a
    new sealed version; the latest one is what the live row must match.
    """

    seal = models.ForeignKey(
        AuditEntry, on_delete=models.PROTECT, related_name="sealed_records"
    )
    # A kind a domain registered (registry.py), e.g. "delivery".
    kind = models.CharField(max_length=16)
    object_id = models.BigIntegerField()
    campaign_id = models.BigIntegerField(db_index=True)
    employee_id = models.BigIntegerField(null=True, db_index=True)
    record_sha256 = models.CharField(max_length=64)
    personal_salt = models.CharField(max_length=32, blank=True, default="")
    personal_sha256 = models.CharField(max_length=64)

    class Meta:
        default_permissions = ()
        indexes = [
            models.Index(fields=["kind", "object_id", "seal"], name="sealed_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id} {self.record_sha256}"
