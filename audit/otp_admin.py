"""django-otp's two device admins, with translated help texts, fieldset titles
and QR-code column (model and field names: audit/otp_labels.py)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.admin import StaticDeviceAdmin, StaticTokenInline
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.otp_labels import FIELDSET_TITLES, help_texts


class _Translated:
    """Our help texts in the admin's form (its Meta.help_texts, which the
    read-only fields read too), not on the model fields, which migrations
    compare; and our fieldset titles."""

    def get_fieldsets(self, request: HttpRequest, obj: Model | None = None) -> list:
        return [
            (FIELDSET_TITLES.get(title, title), options)
            for title, options in super().get_fieldsets(request, obj)
        ]

    def get_form(
        self, request: HttpRequest, obj: Model | None = None, **kwargs: Any
    ) -> Any:
        kwargs.setdefault("help_texts", help_texts(self.model))
        return super().get_form(request, obj, **kwargs)


class _TranslatedInlineHelp:
    def get_formset(
        self, request: HttpRequest, obj: Model | None = None, **kwargs: Any
    ) -> Any:
        kwargs.setdefault("help_texts", help_texts(self.model))
        return super().get_formset(request, obj, **kwargs)


class TranslatedTOTPDeviceAdmin(_Translated, TOTPDeviceAdmin):
    @admin.display(description=_("QR code"))
    def qrcode_link(self, device: TOTPDevice) -> str:
        if device.pk is None:
            return ""
        href = reverse("admin:otp_totp_totpdevice_config", kwargs={"pk": device.pk})
        return format_html('<a href="{}">{}</a>', href, _("Show the QR code"))


class TranslatedStaticTokenInline(_TranslatedInlineHelp, StaticTokenInline):
    pass


class TranslatedStaticDeviceAdmin(_Translated, StaticDeviceAdmin):
    inlines = [TranslatedStaticTokenInline]


for model, model_admin in (
    (TOTPDevice, TranslatedTOTPDeviceAdmin),
    (StaticDevice, TranslatedStaticDeviceAdmin),
):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)
