"""Webhook endpoints and their delivery log in the admin (DPO).

The secret is shown once, on the page answering the creation or the
rotation, never stored in a message cookie or the session.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from common.texts import shown
from events import services
from events.catalogue import EVENT_TYPES
from events.models import WebhookDelivery, WebhookEndpoint


class EndpointForm(forms.ModelForm):
    url = forms.URLField(
        label=gettext_lazy("URL"), max_length=2000, assume_scheme="https"
    )
    events = forms.MultipleChoiceField(
        label=gettext_lazy("events"),
        choices=[(name, name) for name in EVENT_TYPES],
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "events", "enabled"]

    def clean(self) -> dict:
        data = super().clean()
        if "url" in data and "url" in self.changed_data:
            services.url_clean(data["url"])
        if "events" in data:
            data["events"] = services.events_clean(list(data["events"]))
        return data


def _show_secret(
    request: HttpRequest, endpoint: WebhookEndpoint, secret: str
) -> HttpResponse:
    return TemplateResponse(
        request,
        "events/secret.html",
        {
            **admin.site.each_context(request),
            "title": _("Signing secret"),
            "url": endpoint.url,
            "secret": secret,
            "back": reverse("admin:events_webhookendpoint_change", args=[endpoint.pk]),
        },
    )


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = ["url", "enabled", "events", "failing_since", "why_disabled"]
    list_filter = ["enabled"]
    readonly_fields = ["created_at", "failing_since", "disabled_at", "why_disabled"]
    actions = ["rotate_secret"]

    @admin.display(description=gettext_lazy("why disabled"))
    def why_disabled(self, obj: WebhookEndpoint) -> str:
        return shown(obj.disabled_reason)

    def save_model(self, request, obj, form, change) -> None:  # type: ignore[no-untyped-def]
        if change:
            services.endpoint_update(
                endpoint=obj,
                actor=request.user,
                url=obj.url,
                events=form.cleaned_data["events"],
                enabled=obj.enabled,
                description=obj.description,
            )
            return
        created = services.endpoint_create(
            url=obj.url,
            events=form.cleaned_data["events"],
            description=obj.description,
            actor=request.user,
        )
        obj.pk, obj.secret = created.pk, created.secret

    def response_add(self, request, obj, post_url_continue=None):  # type: ignore[no-untyped-def]
        return _show_secret(request, obj, obj.secret)

    def delete_model(self, request, obj) -> None:  # type: ignore[no-untyped-def]
        services.endpoint_update(endpoint=obj, actor=request.user, enabled=False)
        super().delete_model(request, obj)

    @admin.action(description=gettext_lazy("Rotate the signing secret"))
    def rotate_secret(
        self, request: HttpRequest, queryset: QuerySet
    ) -> HttpResponse | None:
        if queryset.count() != 1:
            messages.error(request, _("Rotate one endpoint at a time."))
            return None
        endpoint = queryset.get()
        return _show_secret(
            request,
            endpoint,
            services.endpoint_rotate(endpoint=endpoint, actor=request.user),
        )

    def changelist_view(self, request, extra_context=None):  # type: ignore[no-untyped-def]
        # The DPO is told here about endpoints the worker turned off.
        for endpoint in WebhookEndpoint.objects.filter(
            enabled=False, disabled_at__isnull=False
        ):
            messages.warning(
                request,
                _("Webhook endpoint %(url)s was disabled: %(reason)s")
                % {"url": endpoint.url, "reason": endpoint.disabled_reason},
            )
        return super().changelist_view(request, extra_context)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "endpoint",
        "event_type",
        "status",
        "attempts",
        "last_status_code",
        "last_duration_ms",
        "last_attempt_at",
        "next_attempt_at",
    ]
    list_filter = ["status", "endpoint"]
    list_select_related = ["event", "endpoint"]
    actions = ["send_again"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    @admin.display(description=gettext_lazy("event"))
    def event_type(self, obj: WebhookDelivery) -> str:
        return f"{obj.event.type} ({obj.event.message_id})"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.action(description=gettext_lazy("Send again"), permissions=["change"])
    def send_again(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = services.deliveries_resend(
            ids=list(queryset.values_list("id", flat=True)), actor=request.user
        )
        messages.success(
            request, _("%(count)d deliveries will be sent again.") % {"count": count}
        )
