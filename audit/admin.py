"""The audit log in the admin: read-only for everyone, superusers included."""

from __future__ import annotations

import json

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from audit.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["seq", "created_at", "username", "action", "target_repr", "reason"]
    list_filter = ["action", "user", "created_at"]
    search_fields = ["username", "target_repr", "target_id", "reason"]
    date_hierarchy = "created_at"
    fields = [
        "seq",
        "created_at",
        "username",
        "user",
        "action",
        "target_type",
        "target_id",
        "target_repr",
        "before_pretty",
        "after_pretty",
        "reason",
        "redacted_at",
        "record_sha256",
        "prev_sha256",
        "entry_sha256",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description=_("before"))
    def before_pretty(self, obj: AuditEntry) -> str:
        return _pretty(obj.before)

    @admin.display(description=_("after"))
    def after_pretty(self, obj: AuditEntry) -> str:
        return _pretty(obj.after)


def _pretty(value: object) -> str:
    if value is None:
        return "—"
    text = json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)
    return format_html("<pre>{}</pre>", text)


# django-otp's device admins, re-registered with translated labels.
from audit import otp_admin  # noqa: E402, F401
