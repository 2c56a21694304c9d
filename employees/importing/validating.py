"""Validating the rows: the header row mapped to fields, then each row's
cells checked and normalised into a ``Row`` (``_Validator``); what is wrong
is collected on the plan as ``Issue``s, errors (the row is left out) and
warnings (the row is kept)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from common.languages import match_language
from employees.importing.reading import ImportFileError
from employees.importing.vocabulary import (
    _HEADERS,
    FIELD_LABELS,
    MAX_LENGTHS,
    _norm_key,
)
from employees.timezones import zone_spelled

if TYPE_CHECKING:
    from employees.importing.planning import Plan

# At most this many errors, and as many warnings, are kept on an ImportRun.
MAX_STORED_ISSUES = 1000
# At most this many of each are kept in memory and listed by --json; the
# rest are counted. Two million copies of one row would otherwise hold
# two million issues (1.3 GB with their JSON) to refuse a 30 MB file.
MAX_REPORTED_ISSUES = 100_000
# Managers' addresses whose check is remembered, at most (a few megabytes).
MANAGERS_CHECKED = 50_000


# The everyday address shape, a strict subset of what Django's EmailValidator
# accepts: it answers in a fraction of the validator's 9 us per call (a third
# of the per-row budget at 30,000 rows/s). Anything else goes to Django's.
_PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9_%+'-]+(?:\.[A-Za-z0-9_%+'-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


def _nul_message() -> str:
    return _(
        "Contains a NUL character (byte 0), which cannot be stored. The file "
        "was probably damaged or saved as binary; remove it and import again."
    )


def address_normalise(address: str) -> str:
    """The address to store: the local part as written, the domain in lower
    case. RFC 5321 (2.4) lets a server treat the local part as case-sensitive
    (none of the big providers do), but never the domain, so lower-casing the
    domain is always safe and lower-casing the local part is not quite. The
    same person written twice in different cases is still one employee:
    addresses are matched lower-cased (``Row.key``) and unique lower-cased in
    the database (``employee_email_ci_unique``); the local part keeps the
    case of the latest file or edit, which is what people see and what is
    mailed. Rows stored before this keep their domain's case until their next
    import or edit (no data migration: nothing is matched on it)."""
    local, at, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}" if at else address


def _is_email(value: str) -> bool:
    if _PLAIN_EMAIL.fullmatch(value):
        return True
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Issue:
    line: int
    column: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "message": self.message}


@dataclass(slots=True)
class Row:
    """One valid row of the file, normalised."""

    line: int
    email: str
    key: str  # lower-cased email
    values: dict[str, str]  # only the columns present in the file
    manager_key: str | None  # lower-cased manager email, when given
    pk: int | None = None  # the matched employee, None for a new one


class _Validator:
    """Turns raw cells into Rows, collecting errors and warnings."""

    def __init__(
        self, header_line: int, headers: list[str], plan: Plan, *, sync: bool = False
    ) -> None:
        self.plan = plan
        self.sync = sync
        self.default_language = settings.LANGUAGE_CODE
        self.languages = dict(settings.LANGUAGES)
        self.language_cache: dict[str, tuple[str, str | None]] = {}
        self.seen_emails: dict[str, int] = {}
        self.seen_hr_ids: dict[str, int] = {}
        self.managers_checked: dict[str, bool] = {}
        self.index: dict[str, int] = {}
        self.labels: dict[str, str] = {}
        self._map_headers(header_line, headers)

    def _map_headers(self, line: int, headers: list[str]) -> None:
        if "\x00" in "".join(headers):
            raise ImportFileError(_nul_message(), line=line)
        for position, header in enumerate(headers):
            label = header.strip()
            if not label:
                continue
            key = _norm_key(label)
            name = _HEADERS.get(key) or _HEADERS.get(key.replace(" ", ""))
            if name is None:
                self.warn(line, label, _("Unknown column, ignored."))
            elif name in self.index:
                raise ImportFileError(
                    _(
                        "Columns “%(first)s” and “%(second)s” both look like the %(field)s column; keep one."
                    )
                    % {
                        "first": self.labels[name],
                        "second": label,
                        "field": _(FIELD_LABELS[name]),
                    },
                    line=line,
                )
            else:
                self.index[name] = position
                self.labels[name] = label
        if "email" not in self.index:
            raise ImportFileError(
                _(
                    "No email column found. Name one of the columns “email”, “e-mail” or “courriel”."
                ),
                line=line,
            )
        self.plan.columns = [name for name in FIELD_LABELS if name in self.index]
        self.columns = [(n, p, MAX_LENGTHS[n]) for n, p in self.index.items()]

    def warn(self, line: int, column: str, message: str) -> None:
        plan = self.plan
        plan.warning_count += 1
        if plan.warning_count <= MAX_REPORTED_ISSUES:
            plan.warnings.append(Issue(line, column, message))

    def error(self, line: int, name: str, message: str) -> None:
        plan = self.plan
        plan.error_count += 1
        if plan.error_count <= MAX_REPORTED_ISSUES:
            plan.errors.append(Issue(line, self.labels.get(name, name), message))

    def _language(self, line: int, raw: str) -> str:
        cached = self.language_cache.get(raw)
        if cached is None:
            cached = self._parse_language(raw)
            self.language_cache[raw] = cached
        code, warning = cached
        if warning:
            self.warn(line, self.labels["language"], warning)
        return code

    def _parse_language(self, raw: str) -> tuple[str, str | None]:
        default_name = self.languages[self.default_language]
        if not raw:
            return self.default_language, _("No language given; %(language)s used.") % {
                "language": default_name
            }
        code = match_language(raw, self.languages)
        if code is not None:
            return code, None
        return self.default_language, _(
            "Language “%(value)s” is not supported; %(language)s used."
        ) % {
            "value": raw,
            "language": default_name,
        }

    def row(self, line: int, cells: list[str]) -> Row | None:
        width = len(cells)
        values: dict[str, str] = {}
        too_long = nul = None
        for name, position, limit in self.columns:
            value = cells[position].strip() if position < width else ""
            if len(value) > limit:
                too_long = too_long or (name, value)
            if "\x00" in value:
                nul = nul or name
            values[name] = value
        if self.sync:
            # Whoever the file names, valid row or not, is not "absent".
            mentioned = self.plan.mentioned
            mentioned.add(values["email"].lower())
            if values.get("hr_id"):
                mentioned.add(values["hr_id"].lower())
        if nul:
            # PostgreSQL stores no NUL in text or JSON: refused here, with
            # its place, rather than failing the whole import when written.
            self.error(line, nul, _nul_message())
            return None
        if too_long:
            name, value = too_long
            self.error(
                line,
                name,
                _("Too long (%(length)s characters, at most %(max)s).")
                % {"length": len(value), "max": MAX_LENGTHS[name]},
            )
            return None
        return self._validate(line, values)

    def _validate(self, line: int, values: dict[str, str]) -> Row | None:
        email = values.pop("email")
        if not email:
            self.error(line, "email", _("The email address is missing."))
            return None
        if not _is_email(email):
            self.error(
                line,
                "email",
                _("“%(value)s” is not a valid email address.") % {"value": email},
            )
            return None
        key = email.lower()
        if key != email:  # an address all in lower case needs no normalising
            email = address_normalise(email)
            key = email.lower()
        first = self.seen_emails.setdefault(key, line)
        if first != line:
            self.error(
                line,
                "email",
                _("The address %(email)s is already on line %(line)s.")
                % {"email": email, "line": first},
            )
            return None
        hr_id = values.get("hr_id")
        if hr_id == "":
            # A blank HR id never erases the one the directory has.
            del values["hr_id"]
        if hr_id:
            first = self.seen_hr_ids.setdefault(hr_id, line)
            if first != line:
                self.error(
                    line,
                    "hr_id",
                    _("The HR id %(id)s is already on line %(line)s.")
                    % {"id": hr_id, "line": first},
                )
                return None
        if "language" in values:
            values["language"] = self._language(line, values["language"])
        if values.get("time_zone"):
            zone = zone_spelled(values["time_zone"])
            if zone is None:
                self.error(
                    line,
                    "time_zone",
                    _(
                        "“%(value)s” is not a time zone; write its IANA name, such as Europe/Paris."
                    )
                    % {"value": values["time_zone"]},
                )
                return None
            values["time_zone"] = zone
        manager_key = self._manager(line, values.pop("manager", None), key)
        return Row(
            line=line, email=email, key=key, values=values, manager_key=manager_key
        )

    def _manager(self, line: int, raw: str | None, own_key: str) -> str | None:
        if raw is None:
            return None
        manager_key = raw.lower()
        if not manager_key:
            return ""
        valid = self.managers_checked.get(raw)
        if valid is None:
            # A manager is named on many rows: checked once.
            valid = _is_email(raw)
            if len(self.managers_checked) < MANAGERS_CHECKED:
                self.managers_checked[raw] = valid
        if not valid:
            self.warn(
                line,
                self.labels["manager"],
                _(
                    "Manager “%(value)s” is not an email address; manager left unchanged."
                )
                % {"value": raw},
            )
            return None
        if manager_key == own_key:
            self.warn(
                line,
                self.labels["manager"],
                _("An employee cannot be their own manager; ignored."),
            )
            return None
        return manager_key
