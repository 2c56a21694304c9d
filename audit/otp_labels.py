"""django-otp's admin screens in the user's language.

django-otp writes its model names, field labels, help texts and fieldset titles
as plain English literals, not marked for translation, so no catalogue can
translate them: a French DPO registering an authenticator app read English. We
give those labels translatable strings of our own (in our catalogue):

- model and field names are set on the models when the apps are ready. Only the
  display attributes change (``_meta.verbose_name``, ``field.verbose_name``),
  never what migrations read (``_meta.original_attrs``,
  ``field._verbose_name``), so no migration is asked for in django-otp;
- help texts (which migrations do read) and fieldset titles are given by our
  subclasses of its ModelAdmins (audit/otp_admin.py).

Only labels change: fields, columns and behaviour stay django-otp's.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

# Fields every django-otp device has (Device, TimestampMixin).
_DEVICE_FIELDS = {
    "user": (_("user"), _("The admin user who logs in with this device.")),
    "name": (_("name"), _("A name to recognise this device, e.g. “Phone”.")),
    "confirmed": (
        pgettext_lazy("two-factor device", "confirmed"),
        _("Only a confirmed device's codes are accepted."),
    ),
    "created_at": (_("registered on"), _("When this device was registered.")),
    "last_used_at": (
        _("last used"),
        _("When a code from this device was last accepted."),
    ),
}
_THROTTLING_FIELDS = {
    "throttling_failure_timestamp": (
        _("last failed attempt"),
        _("When a wrong code was last given; empty after a right one."),
    ),
    "throttling_failure_count": (
        _("failed attempts in a row"),
        _("Each one doubles the wait before the next code is checked."),
    ),
}
_TOTP_FIELDS = {
    **_DEVICE_FIELDS,
    **_THROTTLING_FIELDS,
    "key": (_("secret key"), _("A hex-encoded secret key of up to 40 bytes.")),
    "step": (_("time step"), _("How long each code is valid, in seconds.")),
    "t0": (_("start time"), _("The Unix time at which to begin counting steps.")),
    "digits": (_("digits"), _("The number of digits in each code.")),
    "tolerance": (
        _("tolerance"),
        _("How many time steps early or late a code may be and still be accepted."),
    ),
    "drift": (
        _("clock drift"),
        _("How many time steps the phone's clock is known to be off from ours."),
    ),
    "last_t": (
        _("last time step used"),
        _("A code is accepted only for a later time step, so none works twice."),
    ),
}
_STATIC_DEVICE_FIELDS = {**_DEVICE_FIELDS, **_THROTTLING_FIELDS}
_STATIC_TOKEN_FIELDS = {
    "device": (_("backup code list"), ""),
    "token": (_("backup code"), _("Each code works once.")),
}

FIELDSET_TITLES = {
    "Identity": _("Identity"),
    "Timestamps": _("Dates"),
    "Configuration": _("Configuration"),
    "State": _("State"),
    "Throttling": _("Failed attempts"),
    "QR Code": _("QR code"),
}


def _relabel(
    model: type[models.Model],
    singular: str,
    plural: str,
    fields: dict[str, tuple[str, str]],
) -> None:
    model._meta.verbose_name = singular
    model._meta.verbose_name_plural = plural
    for name, (label, _help_text) in fields.items():
        # Not field._verbose_name, which is what migrations compare.
        model._meta.get_field(name).verbose_name = label


def help_texts(model: type[models.Model]) -> dict[str, str]:
    """Our help text for each of a django-otp model's fields, by field name."""
    fields = {
        "TOTPDevice": _TOTP_FIELDS,
        "StaticDevice": _STATIC_DEVICE_FIELDS,
        "StaticToken": _STATIC_TOKEN_FIELDS,
    }[model.__name__]
    return {name: help_text for name, (_label, help_text) in fields.items()}


def relabel_totp() -> None:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    _relabel(TOTPDevice, _("authenticator app"), _("authenticator apps"), _TOTP_FIELDS)


def relabel_static() -> None:
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

    _relabel(
        StaticDevice,
        _("backup code list"),
        _("backup code lists"),
        _STATIC_DEVICE_FIELDS,
    )
    _relabel(StaticToken, _("backup code"), _("backup codes"), _STATIC_TOKEN_FIELDS)
