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
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from console import break_glass, login, sso, views
from console.bundle import views as bundle_views


class NotifyAdminSite(admin.AdminSite):
    site_header = gettext_lazy("Staff notifications")
    site_title = gettext_lazy("Staff notifications")
    index_title = gettext_lazy("Administration")
    login_form = login.LoginForm
    login_template = "console/login.html"

    def has_permission(self, request: HttpRequest) -> bool:
        if not super().has_permission(request):
            return False
        if request.session.get(sso.SESSION_KEY):
            return True  # the identity provider asked for the second factor
        if settings.OTP_REQUIRED:
            is_verified = getattr(request.user, "is_verified", None)
            return bool(is_verified and is_verified())
        return True

    def login(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {
            **(extra_context or {}),
            "sso_enabled": sso.enabled(),
            "sso_provider": sso.conf("OIDC_PROVIDER_NAME"),
            "password_login": sso.conf("ADMIN_PASSWORD_LOGIN"),
            "otp_shown": login.otp_in_use(),
        }
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
            break_glass.break_glass_used(user=request.user)
        else:
            login.login_failed(request)
        return response

    def logout(self, request: HttpRequest, extra_context: dict | None = None):
        # Read before the session ends: an SSO session also ends the
        # provider's, where it offers an end_session_endpoint.
        end_session = sso.end_session_url(request) if request.method == "POST" else None
        response = super().logout(request, extra_context)
        if end_session and response.status_code == 200:
            return HttpResponseRedirect(end_session)
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
                "notifications/campaign/<int:pk>/evidence-bundle/",
                view(bundle_views.bundle_page),
                name="audit_evidence_bundle",
            ),
            path(
                "notifications/campaign/<int:pk>/evidence-bundle/<int:bundle>.zip",
                view(bundle_views.bundle_download),
                name="audit_evidence_bundle_download",
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
