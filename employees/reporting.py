"""What the staff-list commands print: ``import_employees`` (a file: lines and
columns) and ``sync_directory`` (an LDAP directory: entries and attributes)
report an import the same way, in their own words. Their exit statuses:
0 imported, 1 invalid rows or entries, 2 refused as a whole, 3 unexpected
failure."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import NoReturn

from django.core.management.base import BaseCommand

from employees.importing import ImportResult

# Warnings printed one by one; --json lists them all.
_WARNINGS_SHOWN = 50


@dataclass(frozen=True)
class Wording:
    """How a command names what it read and what it did."""

    line: str  # "line", "entry"
    column: str  # "column", "attribute"
    rows: str  # "rows", "entries" (as in "3 invalid rows out of 10")
    cannot: str  # what the command could not do, before a failure's reason
    done: str  # the verb of a written import
    not_written: str  # why nothing was written when invalid rows stopped it


FILE = Wording(
    line="line",
    column="column",
    rows="rows",
    cannot="Cannot import",
    done="Imported",
    not_written="fix the errors above or use --skip-invalid",
)
DIRECTORY = Wording(
    line="entry",
    column="attribute",
    rows="entries",
    cannot="Cannot sync the directory",
    done="Synchronised",
    not_written="fix the entries above or use --skip-invalid",
)


def fail(
    command: BaseCommand,
    wording: Wording,
    message: str,
    *,
    line: int | None = None,
    as_json: bool,
    status: int = 2,
) -> NoReturn:
    """Say why nothing was imported, then exit with ``status``."""
    if as_json:
        payload = {"error": message, "line": line}
        command.stdout.write(json.dumps(payload, ensure_ascii=False))
    else:
        command.stderr.write(f"{wording.cannot}: {message}")
    sys.exit(status)


def finish(
    command: BaseCommand, wording: Wording, result: ImportResult, *, as_json: bool
) -> None:
    """Print the result (one JSON object, or the issues and the counts); exit
    with status 1 when there were invalid rows."""
    if as_json:
        command.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False))
    else:
        _report(command, wording, result)
    if result.error_count:
        sys.exit(1)


def _report(command: BaseCommand, wording: Wording, result: ImportResult) -> None:
    for issue in result.errors:
        command.stderr.write(
            f"{wording.line} {issue.line}, {wording.column} {issue.column}: "
            f"{issue.message}"
        )
    for issue in result.warnings[:_WARNINGS_SHOWN]:
        command.stdout.write(
            f"warning: {wording.line} {issue.line}, {wording.column} {issue.column}: "
            f"{issue.message}"
        )
    if result.warning_count > _WARNINGS_SHOWN:
        command.stdout.write(
            f"... and {result.warning_count - _WARNINGS_SHOWN} more warnings "
            "(--json lists them)"
        )
    if result.dry_run:
        verb = "Dry run, nothing written. Would create"
    elif result.written:
        verb = f"{wording.done}. Created"
    else:
        verb = f"Nothing written: {wording.not_written}. Would create"
    command.stdout.write(
        f"{verb} {result.created}, update {result.updated}, unchanged {result.unchanged}, "
        f"deactivate {result.deactivated}; {result.error_count} invalid {wording.rows} "
        f"out of {result.rows}."
    )
