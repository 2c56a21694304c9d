"""API keys in the admin: listed, revoked (never shown: made by the command)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from api.keys import key_revoke
from api.models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "role",
        "prefix",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = ["role"]
    search_fields = ["name", "prefix"]
    readonly_fields = [
        "name",
        "role",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    fields = [*readonly_fields, "expires_at"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # `python manage.py api_key NAME --role …` prints the key once

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # revoked, kept: the audit log names it

    @admin.action(
        description=gettext_lazy("Revoke the selected keys"), permissions=["change"]
    )
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = sum(key_revoke(key=key, actor=request.user) for key in queryset)
        messages.success(request, _("%(count)d keys revoked.") % {"count": count})
