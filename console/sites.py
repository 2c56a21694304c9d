"""The project's admin site: hardened login, two-factor, audit pages.

Installed by ``audit.apps.NotifyAdminConfig`` in place of
``django.contrib.admin`` in INSTALLED_APPS: its ``default_site`` makes
``django.contrib.admin.site`` an instance of this class, so every app's
``@admin.register`` and ``config/urls.py``'s ``admin.site.urls`` use it
without change.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from console import login, views


class NotifyAdminSite(admin.AdminSite):
    site_header = gettext_lazy("Staff notifications")
    site_title = gettext_lazy("Staff notifications")
    index_title = gettext_lazy("Administration")
    login_form = login.LoginForm
    login_template = "otp/admin111/login.html"

    def has_permission(self, request: HttpRequest) -> bool:
        if not super().has_permission(request):
            return False
        if settings.OTP_REQUIRED:
            is_verified = getattr(request.user, "is_verified", None)
            return bool(is_verified and is_verified())
        return True

    def login(self, request: HttpRequest, extra_context: dict | None = None):
        if request.method != "POST":
            return super().login(request, extra_context)
        if login.login_blocked(request):
            context = {
                **self.each_context(request),
                "title": _("Too many attempts"),
                "message": _(
                    "Too many failed logins. Try again in %(minutes)s minutes."
                )
                % {"minutes": max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)},
            }
            return TemplateResponse(
                request, "audit/login_blocked.html", context, status=429
            )
        response = super().login(request, extra_context)
        if response.status_code in (301, 302):
            login.login_succeeded(request)
        else:
            login.login_failed(request)
        return response

    def get_urls(self):
        def view(func, **kwargs):
            return self.admin_view(func, **kwargs)

        own = [
            path(
                "notifications/campaign/<int:pk>/evidence.<str:kind>",
                view(views.evidence_export),
                name="audit_evidence_export",
            ),
            path(
                "employees/employee/<int:pk>/personal-data.json",
                view(views.person_export),
                name="audit_person_export",
            ),
            path(
                "employees/employee/<int:pk>/erase/",
                view(views.person_erase),
                name="audit_person_erase",
            ),
            path("audit/verify/", view(views.chain_verify), name="audit_verify"),
        ]
        return own + super().get_urls()
