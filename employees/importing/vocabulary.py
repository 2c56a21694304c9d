"""What HR files call things: the header aliases and language names the
import accepts, the field labels its messages show, the longest value of each
field, and the folding (``_norm_key``) under which headers are compared
(languages are matched by common.languages.match_language)."""

from __future__ import annotations

import re
import unicodedata

from django.utils.translation import gettext_noop

from common.languages import ENGLISH_NAMES, EU_LANGUAGES, FRENCH_NAMES
from employees.models import Employee

# Header aliases, matched after _norm_key() (case, accents and punctuation
# removed). One table, in one place (CONTRIBUTING.md).
HEADER_ALIASES: dict[str, str] = {
    "email": "email",
    "e-mail": "email",
    "mail": "email",
    "courriel": "email",
    "adresse e-mail": "email",
    "adresse email": "email",
    "adresse mail": "email",
    "adresse électronique": "email",
    "adresse électronique professionnelle": "email",
    "email address": "email",
    "work email": "email",
    "first name": "first_name",
    "firstname": "first_name",
    "given name": "first_name",
    "prénom": "first_name",
    "last name": "last_name",
    "lastname": "last_name",
    "surname": "last_name",
    "family name": "last_name",
    "nom": "last_name",
    "nom de famille": "last_name",
    "department": "department",
    "dept": "department",
    "service": "department",
    "département": "department",
    "direction": "department",
    "country": "country",
    "pays": "country",
    "location": "country",
    "site": "country",
    "language": "language",
    "langue": "language",
    "locale": "language",
    "preferred language": "language",
    "langue préférée": "language",
    "time zone": "time_zone",
    "timezone": "time_zone",
    "tz": "time_zone",
    "fuseau horaire": "time_zone",
    "fuseau": "time_zone",
    "zone horaire": "time_zone",
    "manager": "manager",
    "manager email": "manager",
    "manager e-mail": "manager",
    "responsable": "manager",
    "email du responsable": "manager",
    "e-mail du responsable": "manager",
    "employee id": "hr_id",
    "employee number": "hr_id",
    "hr id": "hr_id",
    "matricule": "hr_id",
    "id": "hr_id",
}

# Language names as HR files write them (English, French, the language's
# own), by code: the table common.languages.match_language reads, which also
# takes codes and regional codes (de-AT, pt_BR).
LANGUAGE_NAMES: dict[str, str] = {
    name: code
    for code, native in EU_LANGUAGES
    for name in (native, ENGLISH_NAMES[code], FRENCH_NAMES[code])
}

# Marked for makemessages here, translated where a message shows them.
FIELD_LABELS = {
    "email": gettext_noop("email"),
    "first_name": gettext_noop("first name"),
    "last_name": gettext_noop("last name"),
    "department": gettext_noop("department"),
    "country": gettext_noop("country"),
    "language": gettext_noop("language"),
    "manager": gettext_noop("manager"),
    "hr_id": gettext_noop("HR id"),
    "time_zone": gettext_noop("time zone"),
}

# Longest value per field, from the model (a longer value is a row error,
# not a database error half way through the transaction).
MAX_LENGTHS = {
    name: Employee._meta.get_field(name).max_length
    for name in (
        "email", "first_name", "last_name", "department", "country", "hr_id",
        "time_zone",
    )
}  # fmt: skip
MAX_LENGTHS["manager"] = MAX_LENGTHS["email"]
MAX_LENGTHS["language"] = 64


def _norm_key(text: str) -> str:
    """Lower case, no accents, punctuation folded to single spaces/hyphens."""
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", " ", plain).strip()


# Aliases are compared in their folded form ("e-mail" and "E_mail" alike).
_HEADERS = {_norm_key(alias): name for alias, name in HEADER_ALIASES.items()}
_HEADERS.update({_norm_key(a).replace(" ", ""): n for a, n in HEADER_ALIASES.items()})
