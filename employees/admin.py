"""The staff directory in the admin: employees, their export, and the import.

Thin (CONTRIBUTING.md): the import pages parse the upload, check permission and
method, then call one service of ``employees.services``; the export hands the
changelist's own queryset to ``common.exporting``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import get_language, gettext_lazy, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from audit.models import AuditAction
from audit.services import audit_record
from common import exporting
from employees import services, tasks
from employees.forms import EmployeeForm, ImportConfirmForm, ImportUploadForm
from employees.models import EmailStatus, Employee, ImportRun
from employees.signals import AddressChange, addresses_changed_send

Status = ImportRun.Status
# Statuses during which the run page refreshes itself.
WORKING = (Status.PENDING, Status.ANALYSING, Status.CONFIRMED, Status.IMPORTING)
REFRESH_SECONDS = 2
# After this long without a worker picking the run up, say so.
WORKER_HINT_SECONDS = 30
IMPORT_PERMS = ("employees.add_employee", "employees.change_employee")

# Export columns: (label, values_list path). The labels are header names the
# importer recognises, so an exported file can be edited and imported back.
EXPORT_COLUMNS = [
    (gettext_lazy("email"), "email"),
    (gettext_lazy("first name"), "first_name"),
    (gettext_lazy("last name"), "last_name"),
    (gettext_lazy("department"), "department"),
    (gettext_lazy("country"), "country"),
    (gettext_lazy("language"), "language"),
    (gettext_lazy("manager email"), "manager__email"),
    (gettext_lazy("HR id"), "hr_id"),
    (gettext_lazy("active"), "is_active"),
    (gettext_lazy("email status"), "email_status"),
]
EXPORT_CHUNK = 2000
# The employees a full-list import deactivates: how many the preview page
# lists (all of them are in its CSV/XLSX download), and the columns of both.
DEACTIVATIONS_SHOWN = 200
DEACTIVATION_COLUMNS = [
    (gettext_lazy("email"), "email"),
    (gettext_lazy("first name"), "first_name"),
    (gettext_lazy("last name"), "last_name"),
    (gettext_lazy("HR id"), "hr_id"),
    (gettext_lazy("department"), "department"),
    (gettext_lazy("country"), "country"),
]


def _can_import(request: HttpRequest) -> bool:
    return request.user.has_perms(IMPORT_PERMS)


def _export_rows(queryset: QuerySet[Employee]) -> Iterator[tuple]:
    # Labels are resolved now: the response is consumed after the view (and
    # its active language) has returned.
    yes_no = {True: _("yes"), False: _("no")}
    statuses = {value: str(label) for value, label in EmailStatus.choices}
    fields = [field for _label, field in EXPORT_COLUMNS]
    active, status = fields.index("is_active"), fields.index("email_status")
    for values in queryset.values_list(*fields).iterator(chunk_size=EXPORT_CHUNK):
        row = list(values)
        row[active] = yes_no[row[active]]
        row[status] = statuses.get(row[status], row[status])
        yield tuple(row)


def _set_active(
    request: HttpRequest, queryset: QuerySet[Employee], active: bool
) -> int:
    """(De)activate the selected employees, with a LogEntry each."""
    changed = services.employee_set_active(
        employee_ids=list(queryset.values_list("pk", flat=True)),
        active=active,
        user=request.user,
    )
    if changed:
        # The admin's own message format: shown translated in each object's
        # history as "Changed active."
        LogEntry.objects.log_actions(
            request.user.pk,
            list(Employee.objects.filter(pk__in=changed)),
            CHANGE,
            change_message=[{"changed": {"fields": ["active"]}}],
        )
    return len(changed)


@admin.register(Employee)
class EmployeeAdmin(admin.ModelAdmin):
    form = EmployeeForm
    list_display = [
        "name",
        "email",
        "hr_id",
        "department",
        "country",
        "language",
        "manager",
        "is_active",
        "email_status",
    ]
    list_display_links = ["name", "email"]
    search_fields = ["first_name", "last_name", "email", "hr_id"]
    list_filter = [
        "department",
        "country",
        "language",
        "is_active",
        "email_status",
        "source",
    ]
    list_select_related = ["manager"]
    autocomplete_fields = ["manager"]
    # Where the person last came from (file, SCIM, LDAP...) and when.
    readonly_fields = [
        "source",
        "synced_at",
        "created_at",
        "updated_at",
        "deactivated_at",
    ]
    actions = ["deactivate_selected", "reactivate_selected"]
    list_per_page = 100

    @admin.display(description=gettext_lazy("name"), ordering="last_name")
    def name(self, obj: Employee) -> str:
        return obj.full_name or "—"

    def save_model(
        self, request: HttpRequest, obj: Employee, form: Any, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        if change and "email" in form.changed_data:
            # A corrected bad address goes back to "ok": the next step of a
            # running campaign writes to it again.
            moved = AddressChange(obj.pk, obj.email, form.initial["email"])
            addresses_changed_send(sender=Employee, changes=[moved])

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # Employees leave by deactivation: their campaign history is evidence.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(
        description=gettext_lazy("Deactivate selected employees"),
        permissions=["change"],
    )
    def deactivate_selected(
        self, request: HttpRequest, queryset: QuerySet[Employee]
    ) -> None:
        count = _set_active(request, queryset, active=False)
        self.message_user(
            request,
            ngettext(
                "%(count)d employee deactivated.",
                "%(count)d employees deactivated.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )

    @admin.action(
        description=gettext_lazy("Reactivate selected employees"),
        permissions=["change"],
    )
    def reactivate_selected(
        self, request: HttpRequest, queryset: QuerySet[Employee]
    ) -> None:
        count = _set_active(request, queryset, active=True)
        self.message_user(
            request,
            ngettext(
                "%(count)d employee reactivated.",
                "%(count)d employees reactivated.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )

    def get_urls(self) -> list:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "export/<str:kind>/",
                self.admin_site.admin_view(self.export_view),
                name="{}_{}_export".format(*info),
            ),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "can_import": _can_import(request),
            "can_export": self.has_view_permission(request),
        }
        return super().changelist_view(request, extra_context)

    def export_view(self, request: HttpRequest, kind: str) -> HttpResponse:
        """The changelist's rows as CSV/XLSX: same query string, same rows."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if kind not in ("csv", "xlsx"):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            changelist_url = reverse("admin:employees_employee_changelist")
            return HttpResponseRedirect(f"{changelist_url}?e=1")
        stamp = timezone.localtime().strftime("%Y-%m-%d-%H%M")
        audit_record(
            actor=request.user,
            action=AuditAction.EXPORT,
            after={
                "what": "employees",
                "format": kind,
                "filters": request.GET.urlencode(),
                "rows": changelist.result_count,
            },
        )
        return exporting.export_response(
            kind,
            [str(label) for label, _field in EXPORT_COLUMNS],
            _export_rows(changelist.queryset),
            f"employees-{stamp}",
            csv_delimiter=exporting.excel_delimiter(get_language()),
            title=_("Employees"),
        )


def _issues_table(issues: list[dict], total: int, *, entries: bool = False) -> str:
    """Errors or warnings of a run; those of a directory sync point at an
    entry and its attribute, not a line and a column."""
    if not issues:
        return "—"
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
        ((i.get("line"), i.get("column"), i.get("message")) for i in issues),
    )
    more = ""
    if total > len(issues):
        more = format_html(
            "<p>{}</p>",
            _("Only the first %(shown)d of %(total)d are kept.")
            % {"shown": len(issues), "total": total},
        )
    return format_html(
        "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead>"
        "<tbody>{}</tbody></table>{}",
        _("Entry") if entries else _("Line"),
        _("Attribute") if entries else _("Column"),
        _("Reason"),
        rows,
        more,
    )


def _deactivation_rows(run: ImportRun) -> Iterator[tuple]:
    fields = [field for _label, field in DEACTIVATION_COLUMNS]
    for employee in services.import_run_deactivations(run):
        yield tuple(getattr(employee, name) for name in fields)


def _deactivation_context(run: ImportRun) -> dict[str, Any]:
    if not run.sync or not run.deactivate_ids:
        return {"deactivations": []}
    shown = list(
        itertools.islice(services.import_run_deactivations(run), DEACTIVATIONS_SHOWN)
    )
    return {
        "deactivations": shown,
        "deactivations_hidden": max(len(run.deactivate_ids) - len(shown), 0),
        "needs_typed_count": services.import_run_needs_typed_count(run),
        "deactivate_percent": round(100 * run.deactivated / max(run.active_total, 1)),
        "warn_percent": services.deactivate_warn_percent(),
    }


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
    """The history of the directory: read-only for everyone, superusers too."""

    list_display = [
        "created_at",
        "run_by",
        "origin",
        "file_name",
        "mode",
        "status",
        "rows_total",
        "created",
        "updated",
        "unchanged",
        "deactivated",
        "error_count",
        "page",
    ]
    list_filter = ["status", "source", "sync"]
    search_fields = ["file_name", "actor", "user__username"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    fields = [
        "created_at",
        "finished_at",
        "run_by",
        "origin",
        "file_name",
        "file_sha256",
        "mode",
        "status",
        "message",
        "rows_total",
        "created",
        "updated",
        "unchanged",
        "deactivated",
        "error_count",
        "warning_count",
        "errors_table",
        "warnings_table",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: ImportRun | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: ImportRun | None = None
    ) -> bool:
        return False

    @admin.display(description=gettext_lazy("run by"), ordering="actor")
    def run_by(self, run: ImportRun) -> str:
        return run.actor or (run.user.get_username() if run.user else "—")

    @admin.display(description=gettext_lazy("source"), ordering="source")
    def origin(self, run: ImportRun) -> str:
        """Where the run's list came from: a staff file (uploaded in the
        admin or given to the command), the LDAP pull, SCIM, the API."""
        if run.source == ImportRun.Source.ADMIN:
            return _("Staff file (admin)")
        if run.source == ImportRun.Source.SHELL:
            return _("Staff file (command line)")
        return run.get_source_display()

    @admin.display(description=gettext_lazy("mode"))
    def mode(self, run: ImportRun) -> str:
        parts = [_("full list") if run.sync else _("additions and updates")]
        if run.skip_invalid:
            parts.append(_("skip invalid rows"))
        if run.dry_run:
            parts.append(_("dry run"))
        return ", ".join(parts)

    @admin.display(description=gettext_lazy("progress"))
    def page(self, run: ImportRun) -> str:
        url = reverse("admin:employees_importrun_preview", args=[run.pk])
        if run.status in (*WORKING, Status.PREVIEW):
            return format_html('<a href="{}">{}</a>', url, _("Open"))
        return "—"

    @admin.display(description=gettext_lazy("row errors"))
    def errors_table(self, run: ImportRun) -> str:
        return _issues_table(
            run.errors, run.error_count, entries=run.source == ImportRun.Source.LDAP
        )

    @admin.display(description=gettext_lazy("warnings"))
    def warnings_table(self, run: ImportRun) -> str:
        return _issues_table(
            run.warnings,
            run.warning_count,
            entries=run.source == ImportRun.Source.LDAP,
        )

    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path(
                "upload/",
                wrap(self.upload_view),
                name="employees_importrun_upload",
            ),
            path(
                "<int:run_id>/preview/",
                wrap(self.run_view),
                name="employees_importrun_preview",
            ),
            path(
                "<int:run_id>/confirm/",
                wrap(require_POST(self.confirm_view)),
                name="employees_importrun_confirm",
            ),
            path(
                "<int:run_id>/deactivations/<str:kind>/",
                wrap(self.deactivations_view),
                name="employees_importrun_deactivations",
            ),
            path(
                "<int:run_id>/cancel/",
                wrap(require_POST(self.cancel_view)),
                name="employees_importrun_cancel",
            ),
            *super().get_urls(),
        ]

    def _run_url(self, run_id: int) -> str:
        return reverse("admin:employees_importrun_preview", args=[run_id])

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        if not _can_import(request):
            raise PermissionDenied
        form = ImportUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            run = services.import_run_create(
                file=upload,
                file_name=upload.name,
                user=request.user,
                source=ImportRun.Source.ADMIN,
                sync=form.cleaned_data["sync"],
                skip_invalid=form.cleaned_data["skip_invalid"],
            )
            if services.import_runs_in_request(file=upload):
                services.import_run_analyse(run_id=run.pk)
            else:
                tasks.analyse_import.delay_on_commit(run.pk)
            return HttpResponseRedirect(self._run_url(run.pk))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Import staff file"),
            "form": form,
            "employee_opts": Employee._meta,
        }
        return TemplateResponse(
            request, "admin/employees/importrun/upload.html", context
        )

    def run_view(
        self, request: HttpRequest, run_id: int, extra: dict | None = None
    ) -> HttpResponse:
        can_import = _can_import(request)
        if not (can_import or self.has_view_permission(request)):
            raise PermissionDenied
        run = get_object_or_404(ImportRun, pk=run_id)
        commit_queued = run.status == Status.CONFIRMED
        working = run.status in WORKING
        if run.status == Status.PENDING:
            waiting_since = run.created_at.timestamp()
        elif commit_queued and run.confirmed_at:
            waiting_since = run.confirmed_at.timestamp()
        else:
            waiting_since = None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "employee_opts": Employee._meta,
            "title": _("Staff import: %(file)s") % {"file": run.file_name},
            "run": run,
            "Status": Status,
            "working": working,
            "commit_queued": commit_queued,
            "refresh_seconds": REFRESH_SECONDS,
            "worker_hint": waiting_since is not None
            and time.time() - waiting_since > WORKER_HINT_SECONDS,
            "can_confirm": can_import
            and run.status == Status.PREVIEW
            and (run.skip_invalid or not run.error_count),
            "can_cancel": can_import and run.status == Status.PREVIEW,
            "errors_hidden": max(run.error_count - len(run.errors), 0),
            "warnings_hidden": max(run.warning_count - len(run.warnings), 0),
            "confirm_form": ImportConfirmForm(expected=None),
            **_deactivation_context(run),
            **(extra or {}),
        }
        return TemplateResponse(request, "admin/employees/importrun/run.html", context)

    def deactivations_view(
        self, request: HttpRequest, run_id: int, kind: str
    ) -> HttpResponse:
        """Everyone a full-list run deactivates, to check before confirming."""
        if not (_can_import(request) or self.has_view_permission(request)):
            raise PermissionDenied
        if kind not in ("csv", "xlsx"):
            raise PermissionDenied
        run = get_object_or_404(ImportRun, pk=run_id)
        audit_record(
            actor=request.user,
            action=AuditAction.EXPORT,
            target=run,
            after={
                "what": "import deactivations",
                "format": kind,
                "rows": len(run.deactivate_ids),
            },
        )
        return exporting.export_response(
            kind,
            [str(label) for label, _field in DEACTIVATION_COLUMNS],
            _deactivation_rows(run),
            f"import-{run.pk}-deactivations",
            csv_delimiter=exporting.excel_delimiter(get_language()),
            title=_("To deactivate"),
        )

    def confirm_view(self, request: HttpRequest, run_id: int) -> HttpResponse:
        if not _can_import(request):
            raise PermissionDenied
        run = get_object_or_404(ImportRun, pk=run_id)
        if run.status != Status.PREVIEW:
            # A second click, or another tab: the service would do nothing.
            messages.warning(request, _("This import has already been decided."))
            return HttpResponseRedirect(self._run_url(run.pk))
        try:
            with run.file.open("rb") as stored:
                in_request = services.import_runs_in_request(file=stored)
        except (OSError, ValueError):
            in_request = True  # the service reports the missing file as a failure
        expected = (
            run.deactivated if services.import_run_needs_typed_count(run) else None
        )
        form = ImportConfirmForm(request.POST, expected=expected)
        if not form.is_valid():
            # Shown again with the error: a wrong number confirms nothing.
            return self.run_view(request, run.pk, {"confirm_form": form})
        typed = form.cleaned_data["deactivate_count"]
        if not services.import_run_confirm(run_id=run.pk, deactivate_count=typed):
            messages.warning(request, _("This import has already been decided."))
        elif in_request:
            services.import_run_commit(run_id=run.pk)
        else:
            tasks.commit_import.delay_on_commit(run.pk)
        return HttpResponseRedirect(self._run_url(run.pk))

    def cancel_view(self, request: HttpRequest, run_id: int) -> HttpResponse:
        if not _can_import(request):
            raise PermissionDenied
        run = services.import_run_cancel(
            run_id=get_object_or_404(ImportRun, pk=run_id).pk
        )
        if run.status == Status.CANCELLED:
            messages.info(request, _("Import cancelled: nothing was written."))
        return HttpResponseRedirect(self._run_url(run.pk))
