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
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from employees.importing import ImportResult
from employees.importing.validating import Issue

# Warnings printed one by one; --json lists them all.
_WARNINGS_SHOWN = 50


@dataclass(frozen=True)
class Wording:
    """How a command names what it read and what it did: whole sentences,
    translated (a command speaks LANGUAGE_CODE's language, as the reasons
    it prints do)."""

    issue: Promise  # %(line)s, %(column)s, %(message)s
    warning: Promise  # the same, for a warning
    cannot: Promise  # %(reason)s: what the command could not do, and why
    dry_run: Promise  # the counts after a dry run
    written: Promise  # the counts of a written import
    not_written: Promise  # the counts when invalid rows stopped it


# The counts' placeholders: %(created)s, %(updated)s, %(unchanged)s,
# %(deactivated)s, %(errors)s (invalid rows), %(rows)s (rows read).
FILE = Wording(
    issue=_("line %(line)s, column %(column)s: %(message)s"),
    warning=_("warning: line %(line)s, column %(column)s: %(message)s"),
    cannot=_("Cannot import: %(reason)s"),
    dry_run=_(
        "Dry run, nothing written. Would create %(created)s, update "
        "%(updated)s, leave %(unchanged)s unchanged, deactivate "
        "%(deactivated)s. Invalid rows: %(errors)s of %(rows)s."
    ),
    written=_(
        "Imported. Created %(created)s, updated %(updated)s, left "
        "%(unchanged)s unchanged, deactivated %(deactivated)s. Invalid rows: "
        "%(errors)s of %(rows)s."
    ),
    not_written=_(
        "Nothing written: fix the errors above or use --skip-invalid. Would "
        "create %(created)s, update %(updated)s, leave %(unchanged)s "
        "unchanged, deactivate %(deactivated)s. Invalid rows: %(errors)s of "
        "%(rows)s."
    ),
)
DIRECTORY = Wording(
    issue=_("entry %(line)s, attribute %(column)s: %(message)s"),
    warning=_("warning: entry %(line)s, attribute %(column)s: %(message)s"),
    cannot=_("Cannot sync the directory: %(reason)s"),
    dry_run=_(
        "Dry run, nothing written. Would create %(created)s, update "
        "%(updated)s, leave %(unchanged)s unchanged, deactivate "
        "%(deactivated)s. Invalid entries: %(errors)s of %(rows)s."
    ),
    written=_(
        "Synchronised. Created %(created)s, updated %(updated)s, left "
        "%(unchanged)s unchanged, deactivated %(deactivated)s. Invalid "
        "entries: %(errors)s of %(rows)s."
    ),
    not_written=_(
        "Nothing written: fix the entries above or use --skip-invalid. Would "
        "create %(created)s, update %(updated)s, leave %(unchanged)s "
        "unchanged, deactivate %(deactivated)s. Invalid entries: %(errors)s "
        "of %(rows)s."
    ),
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
        command.stderr.write(wording.cannot % {"reason": message})
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
        command.stderr.write(wording.issue % _issue(issue))
    for issue in result.warnings[:_WARNINGS_SHOWN]:
        command.stdout.write(wording.warning % _issue(issue))
    if result.warning_count > _WARNINGS_SHOWN:
        more = result.warning_count - _WARNINGS_SHOWN
        command.stdout.write(
            ngettext(
                "... and %(count)s more warning (--json lists them)",
                "... and %(count)s more warnings (--json lists them)",
                more,
            )
            % {"count": more}
        )
    if result.dry_run:
        counts = wording.dry_run
    elif result.written:
        counts = wording.written
    else:
        counts = wording.not_written
    command.stdout.write(
        counts
        % {
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "deactivated": result.deactivated,
            "errors": result.error_count,
            "rows": result.rows,
        }
    )


def _issue(issue: Issue) -> dict[str, object]:
    return {"line": issue.line, "column": issue.column, "message": issue.message}
