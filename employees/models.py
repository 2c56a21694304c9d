from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from common.languages import EU_LANGUAGES


class EmailStatus(models.TextChoices):
    OK = "ok", _("OK")
    BOUNCED = "bounced", _("Bounced")
    COMPLAINED = "complained", _("Complained")


class Employee(models.Model):
    email = models.EmailField(_("email"), max_length=254)
    hr_id = models.CharField(_("HR id"), max_length=64, blank=True, default="")
    first_name = models.CharField(
        _("first name"), max_length=150, blank=True, default=""
    )
    last_name = models.CharField(_("last name"), max_length=150, blank=True, default="")
    department = models.CharField(
        _("department"), max_length=150, blank=True, default=""
    )
    country = models.CharField(
        _("country / site"), max_length=100, blank=True, default=""
    )
    language = models.CharField(
        _("language"),
        max_length=8,
        choices=EU_LANGUAGES,
        default=settings.LANGUAGE_CODE,
    )
    # An IANA name (Europe/Warsaw); empty: the organisation's TIME_ZONE.
    time_zone = models.CharField(
        _("time zone"), max_length=64, blank=True, default="", db_default=""
    )
    manager = models.ForeignKey(
        "self",
        verbose_name=_("manager"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reports",
    )
    is_active = models.BooleanField(_("active"), default=True)
    email_status = models.CharField(
        _("email status"),
        max_length=16,
        choices=EmailStatus.choices,
        default=EmailStatus.OK,
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    deactivated_at = models.DateTimeField(_("deactivated"), null=True, blank=True)
    # Where the person's record last came from, and when: a staff file, the
    # identity provider pushing (SCIM) or the directory pull (LDAP).
    source = models.CharField(
        _("source"),
        max_length=8,
        choices=[
            ("file", _("Staff file")),
            ("scim", _("SCIM provisioning")),
            ("ldap", _("LDAP directory")),
            ("admin", _("Entered in the admin")),
            ("api", _("API")),
        ],
        default="file",
        db_default="file",  # the import's raw INSERTs leave it out
    )
    synced_at = models.DateTimeField(_("last synchronised"), null=True, blank=True)

    class Meta:
        verbose_name = _("employee")
        verbose_name_plural = _("employees")
        ordering = ["last_name", "first_name", "email"]
        # No secondary index for audience filters (department, country,
        # language): a launch scans the table once, which takes milliseconds
        # at 100,000 rows, while every extra index slows each import write.
        constraints = [
            # Addresses are compared case-insensitively everywhere; the
            # database enforces it so two imports racing cannot both insert.
            models.UniqueConstraint(Lower("email"), name="employee_email_ci_unique"),
            models.UniqueConstraint(
                fields=["hr_id"],
                condition=~models.Q(hr_id=""),
                name="employee_hr_id_unique",
            ),
        ]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return f"{name} <{self.email}>" if name else self.email

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


# Why a manager is refused by the admin's form and the API (manager_loops).
MANAGER_LOOP = _("This would make the employee their own manager.")


def manager_loops(employee_pk: int | None, manager_pk: int | None) -> bool:
    """Whether giving employee ``employee_pk`` the manager ``manager_pk``
    would make them their own manager, directly or through others (the
    admin's form and the API refuse it; the staff file ignores a direct one).
    One query per level of the chain above the new manager."""
    if employee_pk is None:
        return False
    seen: set[int] = set()
    boss = manager_pk
    while boss is not None and boss not in seen:
        if boss == employee_pk:
            return True
        seen.add(boss)
        boss = (
            Employee.objects.filter(pk=boss)
            .values_list("manager_id", flat=True)
            .first()
        )
    return False


# What the staff list says of a person, as each of its sources sets it (the
# file import, SCIM, LDAP, the API), by attribute name (manager_id). Whether
# they are active is apart: each source decides it by its own rule.
STAFF_FIELDS = (
    "email",
    "hr_id",
    "first_name",
    "last_name",
    "department",
    "country",
    "language",
    "time_zone",
    "manager_id",
)


class ImportRun(models.Model):
    """One staff-file import, kept as the audit trail of the directory."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to be analysed")
        ANALYSING = "analysing", _("Analysing")
        PREVIEW = "preview", _("Ready to confirm")
        CONFIRMED = "confirmed", _("Confirmed, waiting for a worker")
        IMPORTING = "importing", _("Importing")
        DONE = "done", _("Imported")
        DRY_RUN = "dry_run", _("Dry run (nothing written)")
        REJECTED = "rejected", _("Rejected (nothing written)")
        FAILED = "failed", _("Failed (nothing written)")
        CANCELLED = "cancelled", _("Cancelled")

    class Source(models.TextChoices):
        ADMIN = "admin", _("Admin")
        SHELL = "shell", _("Command line")
        SCIM = "scim", _("SCIM provisioning")
        LDAP = "ldap", _("LDAP directory")
        API = "api", _("API")

    created_at = models.DateTimeField(_("started"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # Touched by every progress write: a run whose worker died shows no
    # progress for a while and is put back in the queue (services).
    updated_at = models.DateTimeField(_("last progress"), auto_now=True)
    confirmed_at = models.DateTimeField(_("confirmed"), null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
    )
    # Who ran it, as text: the admin user's name, or the OS user for the shell.
    actor = models.CharField(_("run by"), max_length=150, blank=True, default="")
    source = models.CharField(
        _("source"), max_length=8, choices=Source.choices, default=Source.ADMIN
    )
    file_name = models.CharField(_("file name"), max_length=255)
    file = models.FileField(_("file"), upload_to="imports/%Y/%m/", blank=True)
    file_sha256 = models.CharField(
        _("file SHA-256"), max_length=64, blank=True, default=""
    )
    sync = models.BooleanField(
        _("full list (deactivate absent employees)"), default=False
    )
    skip_invalid = models.BooleanField(_("skip invalid rows"), default=False)
    dry_run = models.BooleanField(_("dry run"), default=False)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_done = models.PositiveIntegerField(_("rows processed"), default=0)
    created = models.PositiveIntegerField(_("created"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    deactivated = models.PositiveIntegerField(_("deactivated"), default=0)
    error_count = models.PositiveIntegerField(_("errors"), default=0)
    warning_count = models.PositiveIntegerField(_("warnings"), default=0)
    # The first MAX_STORED_ISSUES errors and warnings, as {line, column, message}.
    errors = models.JSONField(_("row errors"), default=list, blank=True)
    warnings = models.JSONField(_("warnings"), default=list, blank=True)
    # A full-list import: whom it deactivates (ids, shown and exported on the
    # preview) and how many employees were active when it was analysed (the
    # share that asks for a typed confirmation, IMPORT_DEACTIVATE_WARN_PERCENT).
    deactivate_ids = models.JSONField(
        _("employees to deactivate"), default=list, blank=True
    )
    active_total = models.PositiveIntegerField(_("active employees"), default=0)
    message = models.TextField(_("message"), blank=True, default="")

    class Meta:
        verbose_name = _("staff import")
        verbose_name_plural = _("staff imports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.created_at:%Y-%m-%d %H:%M})"

    @property
    def progress_percent(self) -> int:
        if not self.rows_total:
            return 0
        return min(100, round(100 * self.rows_done / self.rows_total))
