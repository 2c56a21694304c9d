from __future__ import annotations

from django import forms
from django.core.validators import FileExtensionValidator
from django.utils.translation import gettext_lazy as _

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
