"""The DPO's dashboard pages in the admin (thin: permission, parse, call).

URLs (added to CampaignAdmin.get_urls):

- ``dashboard/``: every campaign and its progress;
- ``<id>/dashboard/``: one campaign; ``<id>/dashboard/live/`` its figures as
  JSON for the page's polling while a step is sending;
- ``<id>/people/``: the outstanding list (and drill-down from the breakdown);
  ``<id>/outstanding.csv`` / ``.xlsx``: the same rows, streamed;
- ``<id>/dashboard/<action>/``: GET asks for confirmation, POST acts.

Anyone who may view campaigns reads these pages (the Viewer role); acting
needs the change permission, approving a launch a second DPO.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import cached_property
from django.utils.http import content_disposition_header, urlencode
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from audit.models import AuditAction
from audit.services import audit_record
from common.exporting import (
    CSV_CONTENT_TYPE,
    csv_lines,
    excel_delimiter,
    xlsx_response,
)
from common.texts import choice_label
from notifications.campaigns import services, steering
from notifications.dashboard import charts
from notifications.dashboard.actions import Action, action_perform, actions_offered
from notifications.dashboard.figures import (
    BREAKDOWN_FIELDS,
    PEOPLE_EXPORT_COLUMNS,
    DashboardFigures,
    PeopleFilter,
    campaign_people,
    people_filtered,
)
from notifications.dashboard.snapshots import (
    dashboard_figures,
    filter_choices,
    overview_lines,
    people_count,
)
from notifications.models import (
    Campaign,
    CampaignAction,
    CampaignStatus,
    StepKind,
    acknowledged_late,
)

PAGE_SIZE = 100
EXPORT_EVIDENCE = "audit.export_evidence"
SORTS = ("value", "total", "acknowledged", "percent")
BREAKDOWN_TITLES = {
    "department": gettext_lazy("By department"),
    "country": gettext_lazy("By country / site"),
    "language": gettext_lazy("By language"),
}


class _Paginator(Paginator):
    """Counts on the plain filtered queryset: without the list's joins and
    subqueries the count is several times cheaper at 100,000 people."""

    def __init__(self, object_list, per_page: int, *, counted) -> None:
        super().__init__(object_list, per_page)
        self._counted = counted  # () -> int

    @cached_property
    def count(self) -> int:
        return self._counted()


# --- Figures for the templates -----------------------------------------------


def _sorted(rows: list, sort: str, descending: bool) -> list:
    key = (lambda row: row.value.lower()) if sort == "value" else None
    key = key or (lambda row: (getattr(row, sort), row.value.lower()))
    return sorted(rows, key=key, reverse=descending)


def _chart(figures: DashboardFigures) -> str:
    campaign = figures.campaign
    tz = ZoneInfo(campaign.time_zone)

    def local(at: datetime) -> date:
        return at.astimezone(tz).date()

    today = local(timezone.now())
    markers = [
        charts.Marker(local(step.due_at), step.kind_label, "step")
        for step in figures.steps
        if step.due_at and step.status not in ("skipped", "missed")
    ]
    markers.append(charts.Marker(local(campaign.deadline), _("Deadline"), "deadline"))
    starts = [local(campaign.launched_at or campaign.created_at)]
    starts += [m.day for m in markers] + [day for day, _n in figures.per_day[:1]]
    return charts.ack_chart(
        per_day=figures.per_day,
        enrolled=figures.enrolled or figures.audience,
        start=min(starts),
        end=max([local(campaign.deadline), *(d for d, _n in figures.per_day[-1:])]),
        today=today,
        markers=markers,
    )


def _live_context(request: HttpRequest, figures: DashboardFigures) -> dict:
    """What dashboard_live.html needs: the page and its refresh share it.

    The refresh is fetched with the page's query string, so the breakdown
    keeps the sort the DPO chose."""
    sort = request.GET.get("sort", "percent")
    sort = sort if sort in SORTS else "percent"
    descending = request.GET.get("order") == "desc"
    return {
        "figures": figures,
        "campaign": figures.campaign,
        "chart": _chart(figures),
        "breakdown": [
            {
                "field": field,
                "title": BREAKDOWN_TITLES[field],
                "rows": _sorted(figures.breakdown[field], sort, descending),
            }
            for field in BREAKDOWN_FIELDS
        ],
        "sort_links": {
            name: _sort_query(request, name, current=sort, descending=descending)
            for name in SORTS
        },
    }


def _live_json(request: HttpRequest, figures: DashboardFigures) -> dict:
    return {
        "status": figures.campaign.status,
        "sending": figures.sending,
        "enrolled": figures.enrolled,
        "acknowledged": figures.acknowledged,
        "late": figures.late,
        "percent": figures.percent,
        "as_of": figures.as_of.isoformat() if figures.as_of else None,
        "steps": [
            {
                "id": s.id,
                "targeted": s.targeted,
                "queued": s.queued,
                "sent": s.sent,
                "failed": s.failed,
                "progress": s.progress,
            }
            for s in figures.steps
        ],
        "html": render_to_string(
            "admin/notifications/dashboard_live.html",
            _live_context(request, figures),
            request=request,
        ),
    }


def _export_rows(
    rows: Iterator[dict],
    steps: dict[int, str],
    *,
    csv_text: bool,
    deadline: datetime,
) -> Iterator[tuple]:
    """Export rows as values; the writers of common/exporting.py make every
    cell formula-safe. For CSV every cell is text (``csv_text``); XLSX keeps
    real dates.
    """
    tz = timezone.get_current_timezone()
    yes, no = _("yes"), _("no")
    for row in rows:
        manager = (
            f"{row['employee__manager__first_name']} "
            f"{row['employee__manager__last_name']}"
            if row["employee__manager__email"]
            else ""  # no manager: both names are None
        )
        acknowledged = row["acknowledged_at"]
        late = yes if acknowledged_late(acknowledged, deadline) else no
        if csv_text:
            acknowledged = (
                acknowledged.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
                if acknowledged
                else ""
            )
        yield (
            row["last_name"],
            row["first_name"],
            row["employee__email"],
            row["employee__department"],
            row["employee__country"],
            row["language"],
            manager,
            row["employee__manager__email"] or "",
            steps.get(row["last_step_id"], ""),
            row["employee__email_status"],
            acknowledged,
            late if acknowledged else "",
            row["answer"],
        )


def _sheet_title(show: str) -> str:
    """The Excel sheet named after the list it holds, as the people page's
    filter names it (not openpyxl's "Sheet")."""
    titles = {
        "outstanding": _("Not yet acknowledged"),
        "acknowledged": _("Acknowledged"),
        "all": _("Everyone"),
    }
    return titles.get(show, titles["outstanding"])


def _csv_chunks(
    headers: list[str], rows: Iterator[tuple], *, delimiter: str
) -> Iterator[bytes]:
    """The exports' one CSV writer (common/exporting.py: BOM, every cell
    formula-safe, chunks), as bytes for the streaming response."""
    return (
        chunk.encode("utf-8") for chunk in csv_lines(headers, rows, delimiter=delimiter)
    )


def _export_headers() -> list[str]:
    return [
        _("Last name"),
        _("First name"),
        _("Email"),
        _("Department"),
        _("Country / site"),
        _("Language"),
        _("Manager"),
        _("Manager's email"),
        _("Last message received"),
        _("Address status"),
        _("Acknowledged at"),
        _("Late"),
        _("Answer"),
    ]


def _sort_query(
    request: HttpRequest, name: str, *, current: str, descending: bool
) -> str:
    """Query string sorting the breakdown by ``name``; again toggles order.

    Names sort A→Z first, figures largest first."""
    params = request.GET.copy()
    params["sort"] = name
    if name == current:
        params["order"] = "asc" if descending else "desc"
    else:
        params["order"] = "asc" if name == "value" else "desc"
    return "?" + params.urlencode()


def launch_summary(campaign: Campaign) -> dict:
    """What a launch sends, for its confirmation and its approval: the
    current message in each language, the deadline and the preview's link."""
    contents = campaign.contents.filter(is_current=True).order_by("language")
    return {
        "contents": [
            {
                "language": dict(settings.LANGUAGES).get(c.language, c.language),
                "subject": c.subject,
                "body_text": c.body_text,
            }
            for c in contents
        ],
        "deadline": timezone.localtime(campaign.deadline, ZoneInfo(campaign.time_zone)),
        "time_zone": campaign.time_zone,
        "preview_url": reverse(
            "admin:notifications_campaign_preview", args=[campaign.pk]
        ),
    }


def evidence_links(request: HttpRequest, campaign: Campaign) -> list[tuple[str, str]]:
    """The evidence export (console/views.py) for those who hold its
    permission, once the campaign was launched: (label, address)."""
    if campaign.status == CampaignStatus.DRAFT:
        return []
    if not request.user.has_perm(EXPORT_EVIDENCE):
        return []
    return [
        (label, reverse("admin:audit_evidence_export", args=[campaign.pk, kind]))
        for kind, label in (
            ("csv", _("Evidence (CSV)")),
            ("html", _("Evidence (HTML)")),
        )
    ] + [
        (
            _("Signed evidence bundle (ZIP)"),
            reverse("admin:audit_evidence_bundle", args=[campaign.pk]),
        )
    ]


# --- Views ---------------------------------------------------------------------


class Dashboard:
    """The dashboard views of one ModelAdmin (CampaignAdmin)."""

    def __init__(self, model_admin: admin.ModelAdmin) -> None:
        self.model_admin = model_admin
        self.site = model_admin.admin_site

    def urls(self) -> list:
        wrap = self.site.admin_view
        return [
            path(
                "dashboard/",
                wrap(self.overview),
                name="notifications_campaign_dashboard_overview",
            ),
            path(
                "<int:pk>/dashboard/",
                wrap(self.campaign),
                name="notifications_campaign_dashboard",
            ),
            path(
                "<int:pk>/dashboard/live/",
                wrap(self.live),
                name="notifications_campaign_dashboard_live",
            ),
            path(
                "<int:pk>/dashboard/<str:action>/",
                wrap(self.action),
                name="notifications_campaign_dashboard_action",
            ),
            path(
                "<int:pk>/people/",
                wrap(self.people),
                name="notifications_campaign_people",
            ),
            path(
                "<int:pk>/outstanding.<str:kind>",
                wrap(self.export),
                name="notifications_campaign_outstanding_export",
            ),
        ]

    # -- helpers

    def _get(self, request: HttpRequest, pk: int, *, change: bool = False) -> Campaign:
        campaign = get_object_or_404(Campaign, pk=pk)
        allowed = (
            self.model_admin.has_change_permission(request, campaign)
            if change
            else self.model_admin.has_view_permission(request, campaign)
        )
        if not allowed:
            raise PermissionDenied
        return campaign

    def _context(self, request: HttpRequest, title: str, **extra: object) -> dict:
        return {
            **self.site.each_context(request),
            "opts": self.model_admin.opts,
            "title": title,
            **extra,
        }

    # -- pages

    def overview(self, request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET"])
        if not self.model_admin.has_view_permission(request):
            raise PermissionDenied
        context = self._context(
            request, _("Campaigns at a glance"), lines=overview_lines()
        )
        return TemplateResponse(
            request, "admin/notifications/dashboard_overview.html", context
        )

    def campaign(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET"])
        campaign = self._get(request, pk)
        figures = dashboard_figures(campaign)
        can_act = self.model_admin.has_change_permission(request, campaign)
        pending = steering.launch_request_pending(campaign) if can_act else None
        context = self._context(
            request,
            _("Dashboard: %(campaign)s") % {"campaign": campaign},
            **_live_context(request, figures),
            actions=actions_offered(request, figures, pending=pending)
            if can_act
            else [],
            pending=pending,
            live_url=reverse(
                "admin:notifications_campaign_dashboard_live", args=[campaign.pk]
            ),
            people_url=reverse(
                "admin:notifications_campaign_people", args=[campaign.pk]
            ),
            evidence=evidence_links(request, campaign),
        )
        return TemplateResponse(request, "admin/notifications/dashboard.html", context)

    def live(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET"])
        campaign = self._get(request, pk)
        figures = dashboard_figures(campaign)
        response = JsonResponse(_live_json(request, figures))
        response["Cache-Control"] = "no-store"
        return response

    def action(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        if request.method not in ("GET", "HEAD", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        campaign = self._get(request, pk, change=True)
        available = self.offered(request, campaign)
        back = reverse("admin:notifications_campaign_dashboard", args=[campaign.pk])
        if action not in available:
            if action in CampaignAction.values:
                messages.warning(
                    request,
                    _("This action is not available now (the campaign is %(s)s).")
                    % {"s": campaign.get_status_display()},
                )
                return HttpResponseRedirect(back)
            raise Http404
        if request.method == "POST":
            try:
                messages.success(request, action_perform(request, campaign, action))
            except services.CampaignError as exc:
                for reason in exc.messages:
                    messages.error(request, reason)
            return HttpResponseRedirect(back)
        return self.confirm(request, campaign, available[action], back=back)

    def offered(self, request: HttpRequest, campaign: Campaign) -> dict[str, Action]:
        """The actions this user may take now, by name (the buttons)."""
        figures = dashboard_figures(campaign)
        pending = steering.launch_request_pending(campaign)
        return {a.name: a for a in actions_offered(request, figures, pending=pending)}

    def confirm(
        self, request: HttpRequest, campaign: Campaign, action: Action, *, back: str
    ) -> HttpResponse:
        """The question an action asks before it is taken (GET changes
        nothing; the page's form posts to the same address). Launching or
        approving also shows the message and a link to its preview."""
        summary = None
        if action.name in (CampaignAction.LAUNCH, CampaignAction.APPROVE):
            summary = launch_summary(campaign)
        context = self._context(
            request,
            action.label,
            campaign=campaign,
            action=action,
            back=back,
            summary=summary,
        )
        return TemplateResponse(
            request, "admin/notifications/dashboard_confirm.html", context
        )

    def people(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET"])
        campaign = self._get(request, pk)
        filters = PeopleFilter.from_query(request.GET)
        steps = list(campaign.steps.order_by("due_at", "id"))
        step_labels = {s.id: choice_label(StepKind, s.kind) for s in steps}
        paginator = _Paginator(
            campaign_people(campaign, filters),
            PAGE_SIZE,
            counted=lambda: people_count(
                campaign, filters, people_filtered(campaign, filters)
            ),
        )
        page = paginator.get_page(request.GET.get("page"))
        rows = [
            {
                **row,
                "last_step": step_labels.get(row["last_step_id"], ""),
                "late": acknowledged_late(row["acknowledged_at"], campaign.deadline),
            }
            for row in page.object_list
        ]
        query = urlencode(filters.query())
        context = self._context(
            request,
            _("People of %(campaign)s") % {"campaign": campaign},
            campaign=campaign,
            filters=filters,
            choices=filter_choices(campaign),
            steps=steps,
            step_labels=step_labels,
            page=page,
            rows=rows,
            query=query,
            csv_url=reverse(
                "admin:notifications_campaign_outstanding_export",
                args=[campaign.pk, "csv"],
            )
            + f"?{query}",
            xlsx_url=reverse(
                "admin:notifications_campaign_outstanding_export",
                args=[campaign.pk, "xlsx"],
            )
            + f"?{query}",
        )
        return TemplateResponse(
            request, "admin/notifications/dashboard_people.html", context
        )

    def export(self, request: HttpRequest, pk: int, kind: str) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET"])
        if kind not in ("csv", "xlsx"):
            raise Http404
        campaign = self._get(request, pk)
        filters = PeopleFilter.from_query(request.GET)
        step_labels = {
            s.id: f"{choice_label(StepKind, s.kind)} ({date_format(s.due_at, 'SHORT_DATE_FORMAT')})"
            if s.due_at
            else choice_label(StepKind, s.kind)
            for s in campaign.steps.all()
        }
        audit_record(
            actor=request.user,
            action=AuditAction.EXPORT,
            target=campaign,
            after={"list": "people", "format": kind, "filters": filters.query()},
        )
        rows = campaign_people(
            campaign, filters, columns=PEOPLE_EXPORT_COLUMNS
        ).iterator(chunk_size=2000)
        filename = f"{filters.show}-{campaign.reference}"
        if kind == "xlsx":
            response = xlsx_response(
                _export_headers(),
                _export_rows(
                    rows, step_labels, csv_text=False, deadline=campaign.deadline
                ),
                f"{filename}.xlsx",
                title=_sheet_title(filters.show),
            )
        else:
            chunks = _csv_chunks(
                _export_headers(),
                _export_rows(
                    rows, step_labels, csv_text=True, deadline=campaign.deadline
                ),
                delimiter=excel_delimiter(get_language()),
            )
            response = StreamingHttpResponse(chunks, content_type=CSV_CONTENT_TYPE)
            response["Content-Disposition"] = content_disposition_header(
                as_attachment=True, filename=f"{filename}.csv"
            )
        response["Cache-Control"] = "no-store"
        return response
