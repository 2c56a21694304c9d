"""SCIM tokens in the admin: listed and revoked, never created or shown here
(``manage.py scim_token NAME`` prints a new one once)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy, ngettext

from directory.models import ScimToken
from directory.scim.auth import tokens_revoke


@admin.register(ScimToken)
class ScimTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at", "created_by", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name"]
    readonly_fields = list_display
    fields = list_display
    actions = ["revoke_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # revoked tokens stay: the audit log names them

    @admin.action(
        description=gettext_lazy("Revoke the selected tokens"),
        permissions=["change"],
    )
    def revoke_selected(
        self, request: HttpRequest, queryset: QuerySet[ScimToken]
    ) -> None:
        names = tokens_revoke(
            token_ids=list(queryset.values_list("pk", flat=True)), user=request.user
        )
        self.message_user(
            request,
            ngettext(
                "%(count)d token revoked.", "%(count)d tokens revoked.", len(names)
            )
            % {"count": len(names)},
            messages.SUCCESS,
        )
