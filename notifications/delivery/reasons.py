"""Why a message was not sent, as the delivery row stores it: in English
(gettext_noop), so that each reader sees it in their own language when the
admin, the dashboard or an export shows it (common.texts.shown). Stored by
several steps of sending, hence one place for the words."""

from __future__ import annotations

from django.utils.translation import gettext_noop

MISSED = gettext_noop("Missed: the deadline passed before it could be sent.")
BAD_ADDRESS = gettext_noop("Address bounced or complained before.")
