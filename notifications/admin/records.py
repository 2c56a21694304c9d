"""What was sent to whom and what they did: recipients with their history of
acknowledgements (and the DPO's correction by hand), and the deliveries."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from common.texts import shown
from notifications.acknowledgements import corrections
from notifications.acknowledgements import services as acknowledgements
from notifications.models import (
    Acknowledgement,
    Delivery,
    Recipient,
)


class AcknowledgementInline(admin.TabularInline):
    """The history: the first acknowledgement and each answer change."""

    model = Acknowledgement
    extra = 0
    can_delete = False
    fields = readonly_fields = [
        "kind",
        "at",
        "answer",
        "content",
        "language",
        "client_ip",
        "user_agent",
    ]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class CorrectionForm(forms.Form):
    acknowledged = forms.TypedChoiceField(
        label=gettext_lazy("Correction"),
        choices=[
            ("1", gettext_lazy("Record the acknowledgement")),
            ("0", gettext_lazy("Withdraw the acknowledgement")),
        ],
        coerce=lambda value: value == "1",
        widget=forms.RadioSelect,
    )
    answer = forms.ChoiceField(label=gettext_lazy("Answer"), required=False)
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy(
            "Kept in the audit log, e.g. “signed paper letter received on 12 Nov”."
        ),
    )

    def __init__(self, *args: object, choices: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        if choices:
            self.fields["answer"].choices = [("", "—"), *choices]
        else:
            del self.fields["answer"]


@admin.register(Recipient)
class RecipientAdmin(admin.ModelAdmin):
    inlines = [AcknowledgementInline]
    list_display = ["email", "campaign", "language", "acknowledged_at", "answer"]
    list_filter = ["campaign", "language"]
    search_fields = ["email", "first_name", "last_name"]
    # The token's seed and hash never appear on screen.
    fields = readonly_fields = [
        f.name
        for f in Recipient._meta.fields
        if f.name not in ("id", "token_seed", "token_hash")
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_urls(self) -> list:
        return [
            path(
                "<int:pk>/correct/",
                self.admin_site.admin_view(self.correct_view),
                name="notifications_recipient_correct",
            ),
            *super().get_urls(),
        ]

    def correct_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Record or withdraw an acknowledgement by hand, with a reason."""
        if not request.user.has_perm("audit.correct_acknowledgement"):
            raise PermissionDenied
        recipient = get_object_or_404(Recipient, pk=pk)
        choices = acknowledgements.answer_choices(recipient.campaign, get_language())
        form = CorrectionForm(request.POST or None, choices=choices)
        if request.method == "POST" and form.is_valid():
            try:
                corrections.acknowledgement_correct(
                    recipient_id=recipient.pk,
                    acknowledged=form.cleaned_data["acknowledged"],
                    answer=form.cleaned_data.get("answer", ""),
                    reason=form.cleaned_data["reason"],
                    user=request.user,
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, _("Acknowledgement corrected."))
                return HttpResponseRedirect(
                    reverse("admin:notifications_recipient_change", args=[pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": recipient,
            "title": _("Correct the acknowledgement of %(email)s")
            % {"email": recipient.email},
            "form": form,
        }
        return TemplateResponse(
            request, "admin/notifications/recipient/correct.html", context
        )


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["to_email", "step", "status", "attempts", "sent_at", "problem"]
    list_filter = ["status", "step__kind", "step__campaign"]
    search_fields = ["to_email", "esp_message_id"]
    readonly_fields = [f.name for f in Delivery._meta.fields]

    @admin.display(description=gettext_lazy("last error"), ordering="last_error")
    def problem(self, obj: Delivery) -> str:
        return shown(obj.last_error)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
