"""Checks of what a campaign's editor types, shared by the admin's form (the
model field) and the API."""

from __future__ import annotations

from email.utils import parseaddr

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _


def sender_validate(value: str) -> None:
    """A campaign's From: an address, or a name and an address
    ("DPO <dpo@example.com>"), on one line (a line break would start
    another header)."""
    if not value:
        return
    _name, address = parseaddr(value)
    if address and "\r" not in value and "\n" not in value:
        try:
            validate_email(address)
            return
        except ValidationError:
            pass
    raise ValidationError(
        _(
            "“%(value)s” is not an e-mail address, nor a name and an address "
            "such as “DPO <dpo@example.com>”."
        ),
        code="invalid",
        params={"value": value},
    )
