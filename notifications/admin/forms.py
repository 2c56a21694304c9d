"""The forms of the campaign change page: its settings (CampaignForm), the
text per language and the steps, each checked before the services save it."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from notifications.campaigns import content as content_mod
from notifications.campaigns.library import template_choices
from notifications.campaigns.selectors import (
    audience_choices,
)
from notifications.models import (
    Campaign,
    CampaignContent,
    CampaignStatus,
    Step,
    StepStatus,
    default_weekdays,
)

WEEKDAYS = [
    (0, gettext_lazy("Monday")),
    (1, gettext_lazy("Tuesday")),
    (2, gettext_lazy("Wednesday")),
    (3, gettext_lazy("Thursday")),
    (4, gettext_lazy("Friday")),
    (5, gettext_lazy("Saturday")),
    (6, gettext_lazy("Sunday")),
]


def _choices(values: list[str], current: list[str]) -> list[tuple[str, str]]:
    return [(v, v) for v in sorted(set(values) | set(current or []))]


class CampaignForm(forms.ModelForm):
    template = forms.ChoiceField(
        label=gettext_lazy("Start from template"),
        required=False,
        help_text=gettext_lazy("Fills the message in every language it offers."),
    )
    departments = forms.MultipleChoiceField(
        label=gettext_lazy("Departments"),
        required=False,
        widget=forms.SelectMultiple(attrs={"data-audience": "department", "size": 6}),
        help_text=gettext_lazy("None selected: every department."),
    )
    countries = forms.MultipleChoiceField(
        label=gettext_lazy("Countries / sites"),
        required=False,
        widget=forms.SelectMultiple(attrs={"data-audience": "country", "size": 6}),
        help_text=gettext_lazy("None selected: every country or site."),
    )
    languages = forms.MultipleChoiceField(
        label=gettext_lazy("Languages"),
        required=False,
        choices=settings.LANGUAGES,
        widget=forms.SelectMultiple(attrs={"data-audience": "language"}),
        help_text=gettext_lazy("None selected: every language."),
    )
    window_weekdays = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Send on"),
        choices=WEEKDAYS,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = Campaign
        fields = [
            "name",
            "deadline",
            "closes_at_deadline",
            "time_zone",
            "departments",
            "countries",
            "languages",
            "from_email",
            "reply_to",
            "dpo_contact",
            "window_enabled",
            "window_start",
            "window_end",
            "window_weekdays",
            "asks_answer",
            "answer_choices",
        ]
        help_texts = {
            "deadline": gettext_lazy(
                "In the campaign's time zone (below), as are the steps' times."
            ),
        }

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        known = audience_choices()
        self.fields["template"].choices = [("", "—"), *template_choices()]
        self.fields["departments"].choices = _choices(
            known["department"], self.instance.departments
        )
        self.fields["countries"].choices = _choices(
            known["country"], self.instance.countries
        )
        if not self.initial.get("window_weekdays"):
            # The admin's add form starts from an empty initial for this
            # declared field: show the model's default (Monday to Friday).
            self.initial["window_weekdays"] = list(
                self.instance.window_weekdays or default_weekdays()
            )

    def clean_time_zone(self) -> str:
        name = self.cleaned_data["time_zone"]
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationError(
                _("Unknown time zone %(name)s.") % {"name": name}
            ) from exc
        return name

    def clean(self) -> dict:
        data = super().clean()
        launched = self.instance.pk and self.instance.status != CampaignStatus.DRAFT
        if launched and "dpo_contact" in data and not data["dpo_contact"].strip():
            self.add_error(
                "dpo_contact",
                _("Every message and page shows the DPO contact: it cannot be empty."),
            )
        start, end = data.get("window_start"), data.get("window_end")
        if data.get("window_enabled") and start and end and start >= end:
            self.add_error(
                "window_end", _("The send window must open before it closes.")
            )
        return data


class ContentInlineForm(forms.ModelForm):
    class Meta:
        model = CampaignContent
        fields = ["language", "subject", "body_text", "body_html", "page_text"]

    def clean(self) -> dict:
        data = super().clean()
        for field, errors in content_mod.content_errors(data).items():
            for error in errors:
                self.add_error(field, error)
        return data


class StepInlineForm(forms.ModelForm):
    class Meta:
        model = Step
        fields = ["kind", "offset_days", "at"]

    def clean(self) -> dict:
        data = super().clean()
        if (data.get("offset_days") is None) == (data.get("at") is None):
            raise ValidationError(
                _("Give either a number of days before the deadline or a time.")
            )
        return data


class StepInlineFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        for form in self.forms:
            step = form.instance
            if not step.pk or step.status == StepStatus.PENDING:
                continue
            # A step that went out (or was missed or skipped) is the record
            # of who was sent what: it stays as it is.
            if form in self.deleted_forms:
                raise ValidationError(
                    _("A step that is no longer pending cannot be deleted: %(step)s.")
                    % {"step": step}
                )
            if form.has_changed():
                raise ValidationError(
                    _("A step that is no longer pending cannot be changed: %(step)s.")
                    % {"step": step}
                )
