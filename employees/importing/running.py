"""``run_import``: analyse a file, then write it unless it is a dry run or
its errors refuse it; what happened, counted, as an ``ImportResult``.

On PostgreSQL, an import to be written (no dry run) with no ``progress``
to report is analysed and written in one transaction, the new employees
COPYed while the file is still read (``writing``), and rolled back whole
when the file, its rows or ``check`` refuse it. With ``progress`` (the
admin's worker), the analysis comes first and the writing after, as on
SQLite: progress written inside the import's transaction would be seen by
nobody until the end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from django.db import connection, transaction
from django.utils import timezone

from employees.importing.applying import apply_plan
from employees.importing.errors import ImportFileError
from employees.importing.planning import Plan, ProgressCallback, analyse_file
from employees.importing.validating import Issue
from events.outbox import emit


@dataclass
class ImportResult:
    created: int
    updated: int
    unchanged: int
    deactivated: int
    errors: list[Issue]
    warnings: list[Issue]
    rows: int
    written: bool
    dry_run: bool
    # All of them; the lists keep the first MAX_REPORTED_ISSUES.
    error_count: int = 0
    warning_count: int = 0
    # Whom --sync deactivated (or would), and how many were active before.
    deactivated_ids: list[int] = field(default_factory=list)
    active_total: int = 0

    def __post_init__(self) -> None:
        self.error_count = max(self.error_count, len(self.errors))
        self.warning_count = max(self.warning_count, len(self.warnings))

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deactivated": self.deactivated,
            "errors": [issue.as_dict() for issue in self.errors],
            "warnings": [issue.as_dict() for issue in self.warnings],
            "rows": self.rows,
            "written": self.written,
            "dry_run": self.dry_run,
            "error_count": self.error_count,
            "warning_count": self.warning_count,
        }


def _counts(plan: Plan) -> dict[str, int]:
    return {
        "created": len(plan.creates),
        "updated": len(plan.updates),
        "unchanged": plan.unchanged,
        "deactivated": len(plan.deactivate_ids),
        "rows": plan.rows_total,
    }


def run_import(
    binary: IO[bytes],
    *,
    sync: bool = False,
    skip_invalid: bool = False,
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
    check: Callable[[Plan], None] | None = None,
) -> ImportResult:
    """Analyse, then (unless dry run or refused) write. Raises ImportFileError.

    ``check`` sees the plan just before it is written and may refuse it by
    raising ImportFileError (a mass deactivation nobody confirmed)."""
    if connection.vendor == "postgresql" and not dry_run and progress is None:
        plan, write = _write_while_reading(
            binary, sync=sync, skip_invalid=skip_invalid, check=check
        )
        return _result(plan, write=write, dry_run=False)
    try:
        plan = analyse_file(binary, sync=sync, progress=progress)
    except ImportFileError as exc:
        if not dry_run:
            emit("import.failed", {"reason": str(exc)[:500]})
        raise
    refused = plan.has_errors and not skip_invalid
    write = not dry_run and not refused
    if write and check is not None:
        check(plan)
    if write:
        with transaction.atomic():  # the webhook's outbox row commits with it
            apply_plan(plan)
            emit("import.completed", _counts(plan))
    elif refused and not dry_run:
        emit("import.failed", {**_counts(plan), "error_count": plan.error_count})
    return _result(plan, write=write, dry_run=dry_run)


class _Refused(Exception):
    """Row errors without ``skip_invalid``: roll back what was written."""


def _write_while_reading(
    binary: IO[bytes],
    *,
    sync: bool,
    skip_invalid: bool,
    check: Callable[[Plan], None] | None,
) -> tuple[Plan, bool]:
    """PostgreSQL: the analysis and the writing in one transaction, the new
    employees written while the file is read (``writing``); rolled back
    whole when the file or the check refuses it. The plan, and whether it
    was written."""
    failure: ImportFileError | None = None
    try:
        with transaction.atomic():  # the webhook's outbox row commits with it
            try:
                plan = analyse_file(binary, sync=sync, write_new_at=timezone.now())
            except ImportFileError as exc:
                failure = exc
                raise
            if plan.has_errors and not skip_invalid:
                raise _Refused
            if check is not None:
                check(plan)
            apply_plan(plan)
            emit("import.completed", _counts(plan))
    except ImportFileError:
        if failure is not None:
            emit("import.failed", {"reason": str(failure)[:500]})
        raise
    except _Refused:
        emit("import.failed", {**_counts(plan), "error_count": plan.error_count})
        return plan, False
    return plan, True


def _result(plan: Plan, *, write: bool, dry_run: bool) -> ImportResult:
    counted = write or dry_run
    return ImportResult(
        created=len(plan.creates) if counted else 0,
        updated=len(plan.updates) if counted else 0,
        unchanged=plan.unchanged if counted else 0,
        deactivated=len(plan.deactivate_ids) if counted else 0,
        errors=plan.errors,
        warnings=plan.warnings,
        rows=plan.rows_total,
        written=write,
        dry_run=dry_run,
        error_count=plan.error_count,
        warning_count=plan.warning_count,
        deactivated_ids=plan.deactivate_ids if counted else [],
        active_total=plan.active_total,
    )
