"""``run_records``: the staff import run on records a program already has (an
LDAP search's entries), not on a file someone uploaded.

The records go through the file import itself, not a copy of its rules:
they are written as an in-memory CSV whose header names the import's
fields, and handed to ``run_import``. Same matching (HR id, else e-mail),
same errors and warnings, same plan, same single transaction, same
``--sync`` deactivation, and every speed-up of the file path is theirs too.
``run_import`` is the import's stable public entry point; the stages behind
it (reading, planning, applying) change as they are tuned, and a second
caller of their internals would have to follow each change.

What this module adds: the issues point at the record (its position in the
list, the source's name for the column, the record's own reference such as
its DN, at the head of the message) instead of a line of a file nobody
sees; and the people the run saw get ``source`` and ``synced_at``, in the
import's transaction.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from employees.importing.planning import Plan
from employees.importing.running import ImportResult, run_import
from employees.importing.validating import Issue
from employees.models import Employee

# The header each field is written under: a name the file import knows.
HEADERS = {
    "email": "email",
    "first_name": "first name",
    "last_name": "last name",
    "department": "department",
    "country": "country",
    "language": "language",
    "manager": "manager",
    "hr_id": "hr id",
    "time_zone": "time zone",
}
# Employees stamped per UPDATE statement.
STAMP_BATCH = 5000
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(slots=True)
class SourceRecord:
    """One person as the source gives them: ``values`` by the import's field
    names (``HEADERS``), ``ref`` what the source calls the record (a DN)."""

    ref: str
    values: dict[str, str]


@dataclass
class RecordsResult:
    result: ImportResult
    # SHA-256 of what was imported, as the file import keeps a file's.
    sha256: str
    stamped: int = 0
    records: int = 0


def _csv(
    records: Sequence[SourceRecord], columns: Sequence[str]
) -> tuple[bytes, list[int]]:
    """The records as a CSV file, and the line each record starts on."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([HEADERS[name] for name in columns])
    starts = []
    line = 2
    has_nul = False
    for record in records:
        get = record.values.get
        cells = [get(name, "") for name in columns]
        if not "".join(cells).strip():
            # The reader skips blank rows; this one must be reported, so it
            # is named where the address should be (an invalid address).
            cells[0] = record.ref
        starts.append(line)
        joined = "".join(cells)
        line += 1
        if "\n" in joined or "\r" in joined:
            line += len(_LINE_BREAK.findall(joined))
        has_nul = has_nul or "\x00" in joined
        writer.writerow(cells)
    # A NUL byte near its start makes the reader refuse a UTF-8 file as
    # binary; as UTF-16 (with its BOM) the row holding it is refused alone,
    # with its line, the way the import refuses a NUL in a cell.
    encoding = "utf-16" if has_nul else "utf-8"
    return out.getvalue().encode(encoding), starts


def _line_references() -> re.Pattern[str]:
    """The messages of the import that name another line (a duplicate's
    first one), in the active language, with that line's number as a group:
    it becomes a record position too."""
    templates = [
        _("The address %(email)s is already on line %(line)s."),
        _("The HR id %(id)s is already on line %(line)s."),
    ]
    patterns = []
    for template in templates:
        pattern = re.escape(template).replace(re.escape("%(line)s"), r"(\d+)")
        patterns.append(re.sub(r"%\\\(\w+\\\)s", ".*?", pattern))
    return re.compile("|".join(f"(?:{p})" for p in patterns))


def _locate(
    issues: list[Issue],
    starts: list[int],
    records: Sequence[SourceRecord],
    labels: Mapping[str, str],
) -> list[Issue]:
    """File lines turned into record positions, headers into the source's
    names, and the record's reference put before the message."""
    position = {line: number for number, line in enumerate(starts, start=1)}
    by_header = {header: labels.get(name, header) for name, header in HEADERS.items()}
    references = _line_references() if issues else None
    located = []
    for issue in issues:
        number = position.get(issue.line, 0)
        column = by_header.get(issue.column, issue.column)
        message = issue.message
        found = references.fullmatch(message) if references else None
        if found:
            group = next(g for g in range(1, found.re.groups + 1) if found.group(g))
            other = position.get(int(found.group(group)))
            if other:
                start, end = found.span(group)
                message = f"{message[:start]}{other}{message[end:]}"
        if number:
            message = f"{records[number - 1].ref}: {message}"
        located.append(Issue(number, column, message))
    return located


def _stamp(keys: list[str], source: str) -> int:
    """``source`` and ``synced_at`` of the employees with these addresses
    (lower-cased), matched through the unique LOWER(email) index: on
    PostgreSQL one array parameter per batch (one plan, whatever its
    length), elsewhere an IN list."""
    quote = connection.ops.quote_name
    table = quote(Employee._meta.db_table)
    col = {f.name: quote(f.column) for f in Employee._meta.concrete_fields}
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    postgres = connection.vendor == "postgresql"
    stamped = 0
    with connection.cursor() as cursor:
        for start in range(0, len(keys), STAMP_BATCH):
            batch = keys[start : start + STAMP_BATCH]
            if postgres:
                match, params = "= ANY(%s)", [batch]
            else:
                match, params = f"IN ({', '.join(['%s'] * len(batch))})", batch
            cursor.execute(
                f"UPDATE {table} SET {col['source']} = %s, "  # noqa: S608 (names from _meta)
                f"{col['synced_at']} = %s WHERE LOWER({col['email']}) {match}",
                [source, now, *params],
            )
            stamped += cursor.rowcount
    return stamped


def run_records(
    records: Sequence[SourceRecord],
    *,
    columns: Sequence[str],
    source: str,
    labels: Mapping[str, str] | None = None,
    sync: bool = False,
    skip_invalid: bool = False,
    dry_run: bool = False,
    check: Callable[[Plan], None] | None = None,
) -> RecordsResult:
    """Import ``records`` as the file import would import the same rows.

    ``columns``: the fields the source gives (``email`` first); a field left
    out is left as it is, a field given empty is emptied (as an empty cell).
    ``labels``: the source's name of each field, shown in the issues.
    ``source``: ``Employee.source`` of everyone the run saw (valid records),
    with ``synced_at`` now, written in the import's transaction.
    Raises ImportFileError as ``run_import`` does (nothing written)."""
    columns = ["email", *(name for name in columns if name != "email")]
    data, starts = _csv(records, columns)
    with transaction.atomic():
        result = run_import(
            io.BytesIO(data),
            sync=sync,
            skip_invalid=skip_invalid,
            dry_run=dry_run,
            check=check,
        )
        stamped = 0
        if result.written:
            refused = {issue.line for issue in result.errors}
            keys = [
                record.values.get("email", "").strip().lower()
                for record, line in zip(records, starts, strict=True)
                if line not in refused
            ]
            stamped = _stamp([key for key in keys if key], source)
    result.errors = _locate(result.errors, starts, records, labels or {})
    result.warnings = _locate(result.warnings, starts, records, labels or {})
    return RecordsResult(
        result=result,
        sha256=hashlib.sha256(data).hexdigest(),
        stamped=stamped,
        records=len(records),
    )
