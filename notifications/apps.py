from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        # Connects the receivers of anymail's tracking and of the directory's
        # address changes; tells the ledger which records to seal.
        from notifications.campaigns import sealing
        from notifications.delivery import tracking  # noqa: F401

        sealing.register()
