from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        # Connects the anymail tracking receiver.
        from notifications import tracking  # noqa: F401
