"""The campaign's admin: its change page with the text and steps inlines, the
lifecycle buttons, the preview, test message, personal links and letters;
the dashboard's pages are added to its URLs (dashboard/views.py). Thin: forms
parse (forms.py), views check permission and method, then call one service
or selector."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from audit.models import AuditAction
from audit.services import audit_record
from common.texts import shown
from employees.models import Employee
from notifications.admin import notes
from notifications.admin.forms import (
    CampaignForm,
    ContentInlineForm,
    StepInlineForm,
    StepInlineFormSet,
)
from notifications.campaigns import content as content_mod
from notifications.campaigns import library, services, steering
from notifications.campaigns.links import links_csv_write, qr_svg
from notifications.campaigns.selectors import (
    audience_filter,
    campaign_letters,
    campaign_links,
    campaign_status,
)
from notifications.dashboard.views import Dashboard, evidence_links
from notifications.models import (
    LINKS_AVAILABLE,
    Campaign,
    CampaignAction,
    CampaignContent,
    CampaignStatus,
    Step,
    default_time_zone,
)

EXPORT_LINKS = "notifications.export_links"

# Lifecycle buttons of the change page, in their order: action -> (service,
# button, message logged and shown). Which are offered: _available_actions.
_LIFECYCLE = {
    CampaignAction.LAUNCH: (
        services.campaign_launch,
        CampaignAction.LAUNCH.label,
        gettext_lazy("Campaign launched."),
    ),
    CampaignAction.PAUSE: (
        services.campaign_pause,
        CampaignAction.PAUSE.label,
        gettext_lazy("Campaign paused."),
    ),
    CampaignAction.RESUME: (
        services.campaign_resume,
        CampaignAction.RESUME.label,
        gettext_lazy("Campaign resumed."),
    ),
    CampaignAction.CANCEL: (
        services.campaign_cancel,
        gettext_lazy("Cancel campaign"),
        gettext_lazy("Campaign cancelled."),
    ),
}


def _jsonable(value: object) -> object:
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _audit_edit(request: HttpRequest, campaign: Campaign, form, change: bool) -> None:
    """Every create or edit of a campaign's settings in the admin, with the
    changed fields before and after (content has its own versioned entry)."""
    if not change:
        audit_record(
            actor=request.user, action=AuditAction.CAMPAIGN_CREATE, target=campaign
        )
        return
    fields = [f for f in form.changed_data if f != "template"]
    if fields:
        audit_record(
            actor=request.user,
            action=AuditAction.CAMPAIGN_EDIT,
            target=campaign,
            before={f: _jsonable(form.initial.get(f)) for f in fields},
            after={f: _jsonable(form.cleaned_data.get(f)) for f in fields},
        )


class ContentInline(admin.StackedInline):
    """The current text per language; saving goes through content_save so a
    change after launch becomes a new version instead of an edit."""

    model = CampaignContent
    form = ContentInlineForm
    extra = 0
    verbose_name = gettext_lazy("message (current version)")
    verbose_name_plural = gettext_lazy("messages per language")
    readonly_fields = ["version", "sha256"]
    fields = [
        "language",
        "subject",
        "body_text",
        "body_html",
        "page_text",
        "version",
        "sha256",
    ]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).filter(is_current=True)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        draft = obj is None or obj.status == CampaignStatus.DRAFT
        return draft and super().has_delete_permission(request, obj)


class StepInline(admin.TabularInline):
    model = Step
    form = StepInlineForm
    formset = StepInlineFormSet
    extra = 0
    fields = ["kind", "offset_days", "at", "due_at", "status", "reason"]
    readonly_fields = ["due_at", "status", "reason"]

    @admin.display(description=gettext_lazy("reason"))
    def reason(self, obj: Step) -> str:
        return shown(obj.status_reason)


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    change_form_template = "admin/notifications/campaign/change_form.html"
    list_display = ["name", "reference", "status", "deadline", "launched_at"]
    list_filter = ["status"]
    search_fields = ["name", "reference"]
    readonly_fields = [
        "reference",
        "status",
        "audience_count",
        "launched_at",
        "paused_at",
        "finished_at",
        "cancelled_at",
        "created_by",
    ]

    class Media:
        js = ["notifications/audience-count.js"]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Once launched, a campaign's recipients, deliveries and
        # acknowledgements are the evidence: cancel it instead; retention
        # (purge_expired) anonymises it in time.
        draft = obj is None or obj.status == CampaignStatus.DRAFT
        return draft and super().has_delete_permission(request, obj)

    def get_fieldsets(self, request: HttpRequest, obj: Campaign | None = None):
        main = ["name", "deadline", "closes_at_deadline", "time_zone"]
        if obj is None:
            main.append("template")
        else:
            main = ["name", "reference", "status", *main[1:]]
        return [
            (None, {"fields": main}),
            (
                _("Audience"),
                {
                    "fields": [
                        "departments",
                        "countries",
                        "languages",
                        "audience_count",
                    ],
                    "description": _(
                        "Active employees matching every non-empty filter."
                    ),
                },
            ),
            (_("Sender"), {"fields": ["from_email", "reply_to", "dpo_contact"]}),
            (
                _("Send window"),
                {
                    "fields": [
                        "window_enabled",
                        ("window_start", "window_end"),
                        "window_weekdays",
                    ]
                },
            ),
            (
                _("Question"),
                {"fields": ["asks_answer", "answer_required", "answer_choices"]},
            ),
            (
                _("History"),
                {
                    "classes": ["collapse"],
                    "fields": [
                        "created_by",
                        "launched_at",
                        "paused_at",
                        "finished_at",
                        "cancelled_at",
                    ],
                },
            ),
        ]

    def get_inlines(self, request: HttpRequest, obj: Campaign | None):
        # A new campaign is created first with the default cadence and the
        # template's text; the DPO then edits both on the change page.
        return [] if obj is None else [ContentInline, StepInline]

    @admin.display(description=gettext_lazy("Matching employees now"))
    def audience_count(self, obj: Campaign | None) -> str:
        count = audience_filter(
            departments=obj.departments if obj else None,
            countries=obj.countries if obj else None,
            languages=obj.languages if obj else None,
        ).count()
        url = reverse("admin:notifications_campaign_audience_count")
        return format_html(
            '<output id="audience-count" data-url="{}" aria-live="polite">{}</output>',
            url,
            count,
        )

    # --- saving through the services -------------------------------------

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        _audit_edit(request, obj, form, change)
        if not change:
            services.steps_default(campaign=obj)
            template = form.cleaned_data.get("template")
            if template:
                services.template_apply(
                    campaign=obj, template=template, user=request.user
                )
                reminder = library.review_reminder(obj)
                if reminder:
                    messages.warning(request, reminder)
        services.steps_replan(campaign=obj)
        for warning in notes.save_warnings(obj):
            messages.warning(request, warning)

    def save_formset(self, request, form, formset, change) -> None:
        if formset.model is not CampaignContent:
            formset.save()
            services.steps_replan(campaign=form.instance)
            return
        campaign = form.instance
        # The admin's change message reads these three lists.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = (
            [],
            [],
            [],
        )
        for inline_form in formset.forms:
            if inline_form in formset.deleted_forms:
                if inline_form.instance.pk and campaign.status == CampaignStatus.DRAFT:
                    inline_form.instance.delete()
                    formset.deleted_objects.append(inline_form.instance)
                continue
            if not inline_form.has_changed():
                continue
            data = inline_form.cleaned_data
            before = inline_form.instance.pk
            saved = services.content_save(
                campaign=campaign,
                language=data["language"],
                fields={
                    name: data.get(name, "") for name in content_mod.CONTENT_FIELDS
                },
                user=request.user,
            )
            if saved.pk == before:
                formset.changed_objects.append((saved, inline_form.changed_data))
            else:
                formset.new_objects.append(saved)

    # --- extra views -----------------------------------------------------

    def get_urls(self):
        own = [
            path(
                "audience-count/",
                self.admin_site.admin_view(self.audience_count_view),
                name="notifications_campaign_audience_count",
            ),
            path(
                "<int:pk>/lifecycle/<str:action>/",
                self.admin_site.admin_view(self.lifecycle_view),
                name="notifications_campaign_lifecycle",
            ),
            path(
                "<int:pk>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="notifications_campaign_preview",
            ),
            path(
                "<int:pk>/send-test/",
                self.admin_site.admin_view(self.send_test_view),
                name="notifications_campaign_send_test",
            ),
            path(
                "<int:pk>/links.csv",
                self.admin_site.admin_view(self.links_csv_view),
                name="notifications_campaign_links_csv",
            ),
            path(
                "<int:pk>/letters/",
                self.admin_site.admin_view(self.letters_view),
                name="notifications_campaign_letters",
            ),
        ]
        return Dashboard(self).urls() + own + super().get_urls()

    def _campaign(self, request: HttpRequest, pk: int, *, change: bool) -> Campaign:
        campaign = get_object_or_404(Campaign, pk=pk)
        allowed = (
            self.has_change_permission(request, campaign)
            if change
            else self.has_view_permission(request, campaign)
        )
        if not allowed:
            raise PermissionDenied
        return campaign

    def _back(self, campaign: Campaign) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse("admin:notifications_campaign_change", args=[campaign.pk])
        )

    def audience_count_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return require_GET(self._audience_count)(request)

    def _audience_count(self, request: HttpRequest) -> JsonResponse:
        count = audience_filter(
            departments=request.GET.getlist("department"),
            countries=request.GET.getlist("country"),
            languages=request.GET.getlist("language"),
        ).count()
        return JsonResponse({"count": count})

    def lifecycle_view(
        self, request: HttpRequest, pk: int, action: str
    ) -> HttpResponse:
        # GET asks (and changes nothing), POST acts: the buttons are links.
        if request.method in ("GET", "HEAD"):
            return self._lifecycle_confirm(request, pk, action)
        return require_POST(self._lifecycle)(request, pk, action)

    def _lifecycle_confirm(
        self, request: HttpRequest, pk: int, action: str
    ) -> HttpResponse:
        campaign = self._campaign(request, pk, change=True)
        if action not in _LIFECYCLE:
            raise PermissionDenied
        if action == CampaignAction.LAUNCH and steering.approval_required():
            return HttpResponseRedirect(
                reverse(
                    "admin:notifications_campaign_dashboard_action",
                    args=[campaign.pk, "launch"],
                )
            )
        dashboard = Dashboard(self)
        offered = dashboard.offered(request, campaign).get(action)
        if offered is None:
            messages.warning(
                request,
                _("This action is not available now (the campaign is %(s)s).")
                % {"s": campaign.get_status_display()},
            )
            return self._back(campaign)
        back = reverse("admin:notifications_campaign_change", args=[campaign.pk])
        return dashboard.confirm(request, campaign, offered, back=back)

    def _lifecycle(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        campaign = self._campaign(request, pk, change=True)
        if action not in _LIFECYCLE:
            raise PermissionDenied
        if action == CampaignAction.LAUNCH and steering.approval_required():
            # Four-eyes: the dashboard asks for (or gives) the approval.
            return HttpResponseRedirect(
                reverse(
                    "admin:notifications_campaign_dashboard_action",
                    args=[campaign.pk, "launch"],
                )
            )
        service, _button, note = _LIFECYCLE[action]
        try:
            done = service(campaign=campaign, user=request.user)
        except services.CampaignError as exc:
            for reason in exc.messages:
                messages.error(request, reason)
            return self._back(campaign)
        if done is False:
            messages.warning(
                request,
                _("Nothing changed: the campaign is %(status)s.")
                % {"status": campaign.get_status_display()},
            )
            return self._back(campaign)
        self.log_change(request, campaign, str(note))
        messages.success(request, note)
        return self._back(campaign)

    def _preview_target(
        self, request: HttpRequest, campaign: Campaign, params
    ) -> tuple[Step, Employee]:
        step = get_object_or_404(Step, campaign=campaign, pk=params.get("step"))
        email = (params.get("employee") or "").strip()
        employees = Employee.objects.all()
        if email:
            employee = employees.filter(email__iexact=email).first()
        else:
            employee = (
                audience_filter(
                    departments=campaign.departments,
                    countries=campaign.countries,
                    languages=campaign.languages,
                ).first()
                or employees.first()
            )
        if employee is None:
            raise ValidationError(_("No employee with this address."))
        return step, employee

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        campaign = self._campaign(request, pk, change=False)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "campaign": campaign,
            "title": _("Preview of %(campaign)s") % {"campaign": campaign},
            "steps": campaign.steps.order_by("due_at", "id"),
            "employee_email": request.GET.get("employee", ""),
            "selected_step": request.GET.get("step", ""),
        }
        if request.GET.get("step"):
            try:
                step, employee = self._preview_target(request, campaign, request.GET)
                context["message"] = services.message_for_employee(
                    step=step, employee=employee
                )
                context["employee"] = employee
                context["step"] = step
            except (ValidationError, services.CampaignError) as exc:
                context["error"] = " ".join(exc.messages)
        return TemplateResponse(
            request, "admin/notifications/campaign/preview.html", context
        )

    def send_test_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return require_POST(self._send_test)(request, pk)

    def _send_test(self, request: HttpRequest, pk: int) -> HttpResponse:
        campaign = self._campaign(request, pk, change=True)
        if not request.user.email:
            messages.error(request, _("Your account has no email address."))
            return self._back(campaign)
        try:
            step, employee = self._preview_target(request, campaign, request.POST)
            services.campaign_send_test(
                step=step, employee=employee, to=request.user.email
            )
        except (ValidationError, services.CampaignError) as exc:
            messages.error(request, " ".join(exc.messages))
            return self._back(campaign)
        messages.success(
            request,
            _("Test message sent to %(email)s.") % {"email": request.user.email},
        )
        return self._back(campaign)

    def _links_campaign(self, request: HttpRequest, pk: int) -> Campaign:
        # A personal link lets anyone acknowledge for its owner: only those
        # who may change the campaign and hold the links permission (the DPO,
        # or HR when granted it) get them.
        campaign = self._campaign(request, pk, change=True)
        if not _may_export_links(request):
            raise PermissionDenied
        if campaign.status not in LINKS_AVAILABLE:
            raise Http404(_("Links exist once the campaign is launched."))
        return campaign

    def links_csv_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return require_GET(self._links_csv)(request, pk)

    def _links_csv(self, request: HttpRequest, pk: int) -> HttpResponse:
        campaign = self._links_campaign(request, pk)
        pending = request.GET.get("pending") == "1"
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        suffix = "-pending" if pending else ""
        response["Content-Disposition"] = (
            f'attachment; filename="links-{campaign.reference}{suffix}.csv"'
        )
        response["Cache-Control"] = "no-store"
        count = links_csv_write(campaign_links(campaign, pending=pending), response)
        services.links_export_record(
            campaign=campaign,
            actor=request.user,
            pending=pending,
            count=count,
            form="csv",
        )
        return response

    def letters_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return require_GET(self._letters)(request, pk)

    def _letters(self, request: HttpRequest, pk: int) -> HttpResponse:
        # Each letter is in its reader's language (the template switches to
        # it), the page around them in the admin's.
        campaign = self._links_campaign(request, pk)
        pending = request.GET.get("pending") == "1"
        letters = [
            {"row": letter.row, "title": letter.title, "qr": qr_svg(letter.row.link)}
            for letter in campaign_letters(campaign, pending=pending)
        ]
        services.links_export_record(
            campaign=campaign,
            actor=request.user,
            pending=pending,
            count=len(letters),
            form="letters",
        )
        context = {"campaign": campaign, "letters": letters, "pending": pending}
        response = TemplateResponse(
            request, "admin/notifications/campaign/letters.html", context
        )
        response["Cache-Control"] = "no-store"
        return response

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # Django's forms read and show datetimes in the current time zone: make
        # it the campaign's, so a deadline or step time typed as 17:00 for a
        # New York campaign means 17:00 in New York, and shows so again.
        with timezone.override(self._form_time_zone(request, object_id)):
            response = super().changeform_view(
                request, object_id, form_url, extra_context
            )
            if hasattr(response, "render") and not response.is_rendered:
                response.render()  # while the override holds
        return response

    def _form_time_zone(self, request: HttpRequest, object_id: str | None) -> ZoneInfo:
        names = [request.POST.get("time_zone", "")] if request.method == "POST" else []
        if object_id and str(object_id).isdigit():
            names += Campaign.objects.filter(pk=object_id).values_list(
                "time_zone", flat=True
            )
        names.append(default_time_zone())
        for name in names:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
        return timezone.get_default_timezone()

    def add_view(self, request, form_url="", extra_context=None):
        # The ready-made templates' sources, check date and which languages
        # are translations to review, shown before the DPO picks one.
        extra_context = {
            **(extra_context or {}),
            "template_library": library.library_rows(),
        }
        return super().add_view(request, form_url, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        campaign = Campaign.objects.filter(pk=object_id).first()
        if campaign:
            figures = campaign_status(campaign)
            extra_context["campaign_figures"] = figures
            extra_context["step_rows"] = notes.step_rows(campaign, figures)
            extra_context["folded_steps"] = notes.folded_steps(campaign)
            extra_context["evidence_links"] = evidence_links(request, campaign)
            extra_context["lifecycle_actions"] = _available_actions(campaign)
            extra_context["review_reminder"] = library.review_reminder(campaign)
            extra_context["links_available"] = (
                campaign.status in LINKS_AVAILABLE and _may_export_links(request)
            )
        return super().change_view(request, object_id, form_url, extra_context)


def _may_export_links(request: HttpRequest) -> bool:
    return request.user.has_perm(EXPORT_LINKS)


def _available_actions(campaign: Campaign) -> list[tuple[str, str]]:
    """The lifecycle buttons the campaign's status allows (CAMPAIGN_ACTIONS);
    "Resume" also needs the deadline ahead (services.campaign_resumable)."""
    return [
        (action.value, str(button))
        for action, (_service, button, _note) in _LIFECYCLE.items()
        if (
            services.campaign_resumable(campaign)
            if action == CampaignAction.RESUME
            else campaign.allows(action)
        )
    ]
