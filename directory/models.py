"""The identity provider's tables: SCIM bearer tokens, and what a SCIM client
knows of an employee that the staff list does not keep (its userName when it
is not the address, its externalId, whether it deleted the resource)."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _


class ScimToken(models.Model):
    """A bearer token of a SCIM client (Entra ID, Okta). Only its SHA-256 is
    kept: the token is shown once, when it is created."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    # SHA-256 of a 256-bit random token: no salt or slow hash needed, a
    # guess costs as much as guessing the token itself.
    token_sha256 = models.CharField(
        _("token SHA-256"), max_length=64, unique=True, editable=False
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.CharField(_("created by"), max_length=150, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("SCIM token")
        verbose_name_plural = _("SCIM tokens")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ScimUser(models.Model):
    """An employee as a SCIM client manages it. Employees from a staff file
    have none until a client touches them; their userName is their address."""

    employee = models.OneToOneField(
        "employees.Employee",
        verbose_name=_("employee"),
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="scim",
    )
    # Entra ID's userName is the user principal name, which need not be a
    # mailbox: kept so that its "userName eq" filter finds the person again.
    user_name = models.CharField(_("SCIM userName"), max_length=254)
    external_id = models.CharField(
        _("SCIM externalId"), max_length=254, blank=True, default=""
    )
    # DELETE deactivates the employee (history stays) and the resource then
    # answers 404, until a client creates it again.
    deleted_at = models.DateTimeField(_("deleted by SCIM"), null=True, blank=True)

    class Meta:
        verbose_name = _("SCIM user")
        verbose_name_plural = _("SCIM users")
        constraints = [
            models.UniqueConstraint(Lower("user_name"), name="scim_user_name_ci_unique")
        ]

    def __str__(self) -> str:
        return self.user_name
