"""The evidence bundle page of a campaign: what a bundle is, the key's
fingerprint, the builds with their progress, a button (POST) to start one
and the downloads. Thin: permission, method, one service, answer."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from audit.models import AuditAction
from audit.services import audit_record
from console.bundle import building, jobs, keys
from console.models import EvidenceBundle
from notifications.models import Campaign, CampaignStatus

PERMISSION = "audit.export_evidence"


def _campaign(request: HttpRequest, pk: int) -> Campaign:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    campaign = get_object_or_404(Campaign, pk=pk)
    if campaign.status == CampaignStatus.DRAFT:
        raise Http404
    return campaign


@require_http_methods(["GET", "POST"])
def bundle_page(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(request, pk)
    if request.method == "POST":
        job, queued = jobs.bundle_request(campaign=campaign, user=request.user)
        if job.status == EvidenceBundle.Status.FAILED:
            messages.error(request, _("No bundle: %(error)s") % {"error": job.error})
        elif queued:
            messages.info(
                request,
                _("The bundle is being built by the worker; this page follows it."),
            )
        else:
            messages.success(request, _("The bundle is ready."))
        return redirect("admin:audit_evidence_bundle", pk=campaign.pk)
    bundles = list(
        EvidenceBundle.objects.filter(campaign=campaign)
        .select_related("requested_by")
        .order_by("-created_at")[:10]
    )
    context = {
        **admin.site.each_context(request),
        "title": _("Signed evidence bundle"),
        "campaign": campaign,
        "opts": Campaign._meta,
        "bundles": bundles,
        "in_progress": jobs.bundle_in_progress(campaign),
        "fingerprint": keys.current_fingerprint(),
        "tsa_url": settings.EVIDENCE_TSA_URL,
        "pseudonymised": settings.EVIDENCE_BUNDLE_PSEUDONYMISE,
    }
    return TemplateResponse(request, "console/evidence_bundle.html", context)


@require_GET
def bundle_download(request: HttpRequest, pk: int, bundle: int) -> HttpResponse:
    campaign = _campaign(request, pk)
    job = get_object_or_404(
        EvidenceBundle, pk=bundle, campaign=campaign, status=EvidenceBundle.Status.DONE
    )
    path = jobs.bundle_path(job)
    if not path.exists():
        raise Http404
    audit_record(
        actor=request.user,
        action=AuditAction.EXPORT,
        target=campaign,
        after={"format": "evidence_bundle", "bundle": job.pk, "sha256": job.sha256},
    )
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=building.bundle_filename(campaign, job.created_at),
        content_type="application/zip",
    )
