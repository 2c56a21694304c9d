"""Addresses that bounced or complained, for HR to correct (the BadAddress
proxy of the staff directory)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import (
    HttpRequest,
)
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from common.texts import shown
from employees.models import EmailStatus
from notifications.delivery import tracking
from notifications.models import (
    BadAddress,
    Delivery,
)


class BadAddressForm(forms.ModelForm):
    class Meta:
        model = BadAddress
        fields = ["email"]


@admin.register(BadAddress)
class BadAddressAdmin(admin.ModelAdmin):
    """Addresses that bounced or complained. Correcting the address here puts
    the person back to "ok": the next step of each campaign writes to them."""

    form = BadAddressForm
    list_display = [
        "email",
        "first_name",
        "last_name",
        "department",
        "email_status",
        "last_problem",
    ]
    list_filter = ["email_status", "department"]
    search_fields = ["email", "first_name", "last_name", "hr_id"]
    readonly_fields = ["first_name", "last_name", "department", "email_status"]
    fields = ["email", *readonly_fields]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).exclude(email_status=EmailStatus.OK)

    @admin.display(description=gettext_lazy("Last problem reported"))
    def last_problem(self, obj: BadAddress) -> str:
        delivery = (
            Delivery.objects.filter(
                to_email__iexact=obj.email,
                status__in=list(tracking.ADDRESS_PROBLEMS),
            )
            .order_by("-status_at")
            .first()
        )
        return shown(delivery.last_error)[:120] if delivery else "—"

    # The directory's own permissions apply (HR manages addresses).
    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.has_perm("employees.view_employee")

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.has_perm("employees.change_employee")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        previous = form.initial.get("email", "")
        super().save_model(request, obj, form, change)
        if tracking.address_fixed(employee=obj, previous_email=previous):
            messages.info(
                request,
                _("%(email)s is back to OK: the next step will write to it.")
                % {"email": obj.email},
            )
