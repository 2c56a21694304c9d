from __future__ import annotations

from typing import Any

from django import forms
from django.core.validators import FileExtensionValidator
from django.utils.translation import gettext_lazy as _

from employees.importing import address_normalise
from employees.models import MANAGER_LOOP, Employee, manager_loops
from employees.timezones import zone_clean

IMPORT_EXTENSIONS = ["csv", "txt", "tsv", "xlsx"]


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Staff file"),
        validators=[FileExtensionValidator(IMPORT_EXTENSIONS)],
        help_text=_(
            "CSV (UTF-8 or Windows-1252, separated by commas, semicolons or tabs) "
            "or Excel XLSX, with a header row. Only the email column is required."
        ),
        widget=forms.ClearableFileInput(
            attrs={"accept": ",".join(f".{ext}" for ext in IMPORT_EXTENSIONS)}
        ),
    )
    sync = forms.BooleanField(
        label=_("The file is the full staff list: deactivate employees not in it"),
        required=False,
        help_text=_("They are deactivated, never deleted: their history stays."),
    )
    skip_invalid = forms.BooleanField(
        label=_("Skip invalid rows"),
        required=False,
        help_text=_(
            "Import the valid rows and report the others. Otherwise any invalid "
            "row stops the import with nothing written."
        ),
    )


class ImportConfirmForm(forms.Form):
    """The confirm button of a preview. Above IMPORT_DEACTIVATE_WARN_PERCENT
    the number of employees to deactivate must be typed: a click alone is too
    easy on the wrong file, and a wrong number confirms nothing."""

    deactivate_count = forms.IntegerField(
        label=_("Number of employees to deactivate"), required=False, min_value=0
    )

    def __init__(self, *args: Any, expected: int | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.expected = expected

    def clean_deactivate_count(self) -> int | None:
        typed = self.cleaned_data.get("deactivate_count")
        if self.expected is not None and typed != self.expected:
            raise forms.ValidationError(
                _(
                    "That is not the number of employees this import deactivates: "
                    "nothing was confirmed."
                )
            )
        return typed


class EmployeeForm(forms.ModelForm):
    """The admin's employee form: the address stored as the import stores it
    (``address_normalise``: domain lower-cased) and refused, in words, when
    another employee has it in another case."""

    class Meta:
        model = Employee
        fields = [
            "email",
            "hr_id",
            "first_name",
            "last_name",
            "department",
            "country",
            "language",
            "time_zone",
            "manager",
            "is_active",
            "email_status",
        ]
        help_texts = {
            "time_zone": _(
                "An IANA name, such as Europe/Warsaw: messages reach this person "
                "in their own working hours. Empty: their country's zone, else "
                "the organisation's."
            )
        }

    def clean_time_zone(self) -> str:
        return zone_clean(self.cleaned_data["time_zone"])  # as the file reads it

    def clean_manager(self) -> Employee | None:
        manager = self.cleaned_data["manager"]
        # Checked when changed only: a loop a staff file brought in (A and B
        # managing each other) must not block correcting A's address.
        changed = "manager" in self.changed_data
        if changed and manager and manager_loops(self.instance.pk, manager.pk):
            raise forms.ValidationError(MANAGER_LOOP)
        return manager

    def clean_email(self) -> str:
        email = address_normalise(self.cleaned_data["email"].strip())
        others = Employee.objects.filter(email__iexact=email)
        if self.instance.pk:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise forms.ValidationError(
                _("Another employee already has this address (in any case).")
            )
        return email
