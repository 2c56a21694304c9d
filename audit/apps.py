from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    default = True
    name = "audit"
    verbose_name = _("Audit and personal data")
    default_auto_field = "django.db.models.BigAutoField"


class TOTPConfig(AppConfig):
    """django-otp's authenticator-app devices, under a name a DPO understands."""

    default = False
    name = "django_otp.plugins.otp_totp"
    label = "otp_totp"
    verbose_name = _("Two-factor: authenticator apps")
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from audit.otp_labels import relabel_totp

        relabel_totp()


class StaticConfig(AppConfig):
    """django-otp's one-time backup codes, under a name a DPO understands."""

    default = False
    name = "django_otp.plugins.otp_static"
    label = "otp_static"
    verbose_name = _("Two-factor: backup codes")
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from audit.otp_labels import relabel_static

        relabel_static()
