"""The forms of the campaign change page: its settings (CampaignForm), the
text per language and the steps, each checked before the services save it."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
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


def _answer_rows(value: object) -> list[dict]:
    """The stored shape, [{"value": …, "labels": {"fr": …, "en": …}}, …], from
    a list or its JSON text; anything else reads as no row."""
    if isinstance(value, str):
        try:
            value = json.loads(value or "[]")
        except ValueError:
            return []
    if not isinstance(value, list):
        return []
    return [
        {"value": str(row.get("value", "")), "labels": dict(row.get("labels") or {})}
        for row in value
        if isinstance(row, dict)
    ]


class AnswerChoicesWidget(forms.Widget):
    """One row per answer: its stored value and its label in each language,
    plus blank rows to add answers; a row left empty is dropped."""

    blank_rows = 2

    def format_value(self, value: object) -> list[dict]:
        return _answer_rows(value)

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        rows = self.format_value(value)
        rows += [{"value": "", "labels": {}}] * self.blank_rows
        languages = settings.LANGUAGES
        head = format_html(
            "<tr><th scope='col'>{}</th>{}</tr>",
            _("Value recorded"),
            format_html_join(
                "",
                "<th scope='col'>{}</th>",
                ((_("Label (%s)") % n,) for _c, n in languages),
            ),
        )

        def row(index: int, answer: dict) -> SafeString:
            prefix = f"{name}-{index}"
            cells = format_html_join(
                "",
                '<td><input type="text" name="{}-label-{}" value="{}" '
                'aria-label="{}" class="vTextField"></td>',
                (
                    (prefix, code, answer["labels"].get(code, ""), _("Label (%s)") % n)
                    for code, n in languages
                ),
            )
            return format_html(
                '<tr><td><input type="text" name="{}-value" value="{}" '
                'aria-label="{}" maxlength="64"></td>{}</tr>',
                prefix,
                answer["value"],
                _("Value recorded"),
                cells,
            )

        body = format_html_join("", "{}", ((row(i, a),) for i, a in enumerate(rows)))
        return format_html(
            '<table class="answer-choices" id="{}"><thead>{}</thead><tbody>{}</tbody>'
            '</table><input type="hidden" name="{}-TOTAL" value="{}">',
            (attrs or {}).get("id", f"id_{name}"),
            head,
            body,
            name,
            len(rows),
        )

    def value_from_datadict(self, data, files, name) -> object:
        if f"{name}-TOTAL" not in data:
            return data.get(name)  # the JSON text of older clients and scripts
        try:
            total = min(int(data.get(f"{name}-TOTAL") or 0), 100)
        except ValueError:
            total = 0
        rows = []
        for index in range(total):
            prefix = f"{name}-{index}"
            labels = {
                code: (data.get(f"{prefix}-label-{code}") or "").strip()
                for code, _n in settings.LANGUAGES
            }
            value = (data.get(f"{prefix}-value") or "").strip()
            if value or any(labels.values()):
                rows.append({"value": value, "labels": labels})
        return rows

    def value_omitted_from_data(self, data, files, name) -> bool:
        return f"{name}-TOTAL" not in data and name not in data


class AnswerChoicesField(forms.Field):
    """The answers offered, edited as rows; stored as the same JSON list."""

    widget = AnswerChoicesWidget

    def to_python(self, value: object) -> list[dict]:
        if isinstance(value, str) and value.strip():
            try:
                json.loads(value)
            except ValueError as exc:
                raise ValidationError(
                    forms.JSONField.default_error_messages["invalid"]
                ) from exc
        rows = _answer_rows(value)
        for answer in rows:
            answer["labels"] = {k: v for k, v in answer["labels"].items() if v}
        return rows

    def validate(self, value: list[dict]) -> None:
        super().validate(value)
        seen = set()
        for answer in value:
            if not answer["value"]:
                raise ValidationError(_("Every answer needs a value to record."))
            if not answer["labels"]:
                raise ValidationError(
                    _("The answer %(value)s needs a label.")
                    % {"value": answer["value"]}
                )
            if answer["value"] in seen:
                raise ValidationError(
                    _("Two answers record the same value: %(value)s.")
                    % {"value": answer["value"]}
                )
            seen.add(answer["value"])

    def has_changed(self, initial: object, data: object) -> bool:
        try:
            return self.to_python(initial) != self.to_python(data)
        except ValidationError:
            return True


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
    answer_choices = AnswerChoicesField(
        label=Campaign._meta.get_field("answer_choices").verbose_name,
        required=False,
        help_text=gettext_lazy(
            "One row per answer: the value recorded (for the exports) and what "
            "each language shows. Empty a row to remove it."
        ),
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
            "answer_required",
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
