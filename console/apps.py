from __future__ import annotations

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class ConsoleConfig(AppConfig):
    """What the DPO does across the domains: evidence, the rights of access
    and erasure, retention, the admin site and its login (with the identity
    provider's accounts and break-glass grants)."""

    default = True
    name = "console"
    verbose_name = _("DPO console")


class NotifyAdminConfig(admin_apps.AdminConfig):
    """Replaces ``django.contrib.admin`` in INSTALLED_APPS so that
    ``admin.site`` (used by every ``@admin.register``) is our hardened site:
    rate-limited login, two-factor available and enforceable (sites.py)."""

    default = False
    default_site = "console.sites.NotifyAdminSite"
