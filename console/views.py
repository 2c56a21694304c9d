"""Admin pages of the audit app, mounted by sites.NotifyAdminSite.get_urls.

Thin: check the permission and the method, call one service, answer.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from audit import services
from common.exporting import CSV_CONTENT_TYPE
from console import evidence, gdpr
from employees.models import Employee
from notifications.models import Campaign

EVIDENCE_FORMATS = ("csv", "html")


def _require(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


def _attachment(response: HttpResponse, filename: str) -> HttpResponse:
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=filename
    )
    return response


@require_GET
def evidence_export(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    _require(request, "audit.export_evidence")
    if kind not in EVIDENCE_FORMATS:
        raise Http404
    campaign = get_object_or_404(Campaign, pk=pk)
    built = evidence.evidence_build(campaign=campaign, actor=request.user, kind=kind)
    filename = evidence.evidence_filename(campaign, kind)
    if kind == "csv":
        chunks = evidence.evidence_csv(built, language=get_language())
        response = StreamingHttpResponse(
            (chunk.encode() for chunk in chunks), content_type=CSV_CONTENT_TYPE
        )
    else:
        response = HttpResponse(
            evidence.evidence_html(built), content_type="text/html; charset=utf-8"
        )
    return _attachment(response, filename)


@require_GET
def person_export(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, "audit.export_personal_data")
    employee = get_object_or_404(Employee, pk=pk)
    data = gdpr.person_export(employee=employee, actor=request.user)
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False, indent=2),
        content_type="application/json; charset=utf-8",
    )
    return _attachment(response, f"personal-data-{employee.pk}.json")


class EraseForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason (e.g. request received on …)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
    )
    confirm = forms.BooleanField(
        label=gettext_lazy("I understand that this cannot be undone.")
    )


@require_http_methods(["GET", "POST"])
def person_erase(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, "audit.erase_personal_data")
    employee = get_object_or_404(Employee, pk=pk)
    form = EraseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        gdpr.person_erase(
            employee=employee,
            actor=request.user,
            reason=form.cleaned_data["reason"],
        )
        messages.success(request, _("The employee's personal data was erased."))
        return HttpResponseRedirect(
            reverse("admin:employees_employee_change", args=[employee.pk])
        )
    context = {
        **admin.site.each_context(request),
        "title": _("Erase personal data"),
        "employee": employee,
        "already_erased": gdpr.is_erased(employee),
        "form": form,
        "opts": Employee._meta,
    }
    return TemplateResponse(request, "audit/erase_confirm.html", context)


@require_GET
def chain_verify(request: HttpRequest) -> HttpResponse:
    _require(request, "audit.view_auditentry")
    context = {
        **admin.site.each_context(request),
        "title": _("Verify the audit chain"),
        "report": services.audit_verify(),
    }
    return TemplateResponse(request, "audit/verify.html", context)
