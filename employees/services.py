"""Functions that write the staff directory.

Views, admin pages, the ``import_employees`` command and Celery tasks call
these and hold no rules of their own (CONTRIBUTING.md). Every import, from the admin
or the shell, leaves an ImportRun row: the audit trail of the directory.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import IO, Any

from django.conf import settings
from django.core.files.base import File
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditAction
from audit.services import audit_record
from employees import importing
from employees.importing import ImportFileError, ImportResult, Plan
from employees.models import Employee, ImportRun

logger = logging.getLogger(__name__)

Status = ImportRun.Status
# Ids per query when listing the employees a run deactivates.
DEACTIVATION_BATCH = 2000
# Progress is written every PROGRESS_EVERY rows: a cheap single-row UPDATE.


def _sha256(binary: IO[bytes]) -> str:
    digest = hashlib.sha256()
    binary.seek(0)
    while chunk := binary.read(1 << 20):
        digest.update(chunk)
    binary.seek(0)
    return digest.hexdigest()


def _progress_writer(run_id: int) -> Callable[[int, int], None]:
    def write(done: int, total: int) -> None:
        ImportRun.objects.filter(pk=run_id).update(
            rows_done=done, rows_total=max(total, done), updated_at=timezone.now()
        )

    return write


class DeactivationNotConfirmed(ImportFileError):
    """A full-list import would deactivate more than
    IMPORT_DEACTIVATE_WARN_PERCENT of the active staff, and nobody confirmed
    that exact number (or the number changed since it was confirmed)."""

    def __init__(self, *, deactivating: int, active_total: int) -> None:
        super().__init__(
            _(
                "This import would deactivate %(count)d of the %(active)d active "
                "employees, and that number was not confirmed; nothing was written."
            )
            % {"count": deactivating, "active": active_total}
        )
        self.deactivating = deactivating
        self.active_total = active_total


def deactivate_warn_percent() -> int:
    # The default again here only so that this module works with a settings
    # module that predates the setting (config/settings.py is shared).
    return getattr(settings, "IMPORT_DEACTIVATE_WARN_PERCENT", 10)


def deactivation_needs_confirmation(*, deactivating: int, active_total: int) -> bool:
    """More than IMPORT_DEACTIVATE_WARN_PERCENT of the active staff leaving at
    once is more often a truncated export or the wrong file than real
    departures: a typed number (or --confirm-deactivate N) confirms it."""
    percent = deactivate_warn_percent()
    return deactivating > 0 and deactivating * 100 > percent * active_total


def deactivation_check(confirmed: int | None) -> Callable[[Plan], None]:
    """The guard of a run that may deactivate people (file import, directory
    sync): more than IMPORT_DEACTIVATE_WARN_PERCENT of the active staff
    leaving at once (a truncated file, a wrong base DN or filter) needs that
    exact number confirmed."""

    def check(plan: Plan) -> None:
        deactivating = len(plan.deactivate_ids)
        if confirmed != deactivating and deactivation_needs_confirmation(
            deactivating=deactivating, active_total=plan.active_total
        ):
            raise DeactivationNotConfirmed(
                deactivating=deactivating, active_total=plan.active_total
            )

    return check


def import_run_needs_typed_count(run: ImportRun) -> bool:
    return run.sync and deactivation_needs_confirmation(
        deactivating=run.deactivated, active_total=run.active_total
    )


def import_run_deactivations(run: ImportRun) -> Iterator[Employee]:
    """The employees a full-list run deactivates (or did), by name, fetched
    in batches: a list of 100,000 ids is more than one query may bind."""
    ids = sorted(run.deactivate_ids)
    for start in range(0, len(ids), DEACTIVATION_BATCH):
        batch = ids[start : start + DEACTIVATION_BATCH]
        yield from Employee.objects.filter(pk__in=batch).order_by("pk")


def _store_counts(
    run: ImportRun, *, plan: Plan | None = None, result: ImportResult | None = None
) -> None:
    if plan is not None:
        run.created, run.updated = len(plan.creates), len(plan.updates)
        run.unchanged, run.deactivated = plan.unchanged, len(plan.deactivate_ids)
        errors, warnings, rows = plan.errors, plan.warnings, plan.rows_total
        counts = plan.error_count, plan.warning_count
        run.deactivate_ids, run.active_total = plan.deactivate_ids, plan.active_total
    else:
        assert result is not None
        run.created, run.updated = result.created, result.updated
        run.unchanged, run.deactivated = result.unchanged, result.deactivated
        errors, warnings, rows = result.errors, result.warnings, result.rows
        counts = result.error_count, result.warning_count
        run.deactivate_ids, run.active_total = (
            result.deactivated_ids,
            result.active_total,
        )
    run.rows_total = run.rows_done = rows
    run.error_count = max(counts[0], len(errors))
    run.warning_count = max(counts[1], len(warnings))
    run.errors = [issue.as_dict() for issue in errors[: importing.MAX_STORED_ISSUES]]
    run.warnings = [
        issue.as_dict() for issue in warnings[: importing.MAX_STORED_ISSUES]
    ]


def _claim(
    run_id: int, *, from_statuses: tuple[str, ...], to_status: str
) -> ImportRun | None:
    """Move a run to ``to_status`` only from ``from_statuses``: a double click
    or a duplicated task finds nothing to claim and does nothing."""
    claimed = ImportRun.objects.filter(pk=run_id, status__in=from_statuses).update(
        status=to_status, rows_done=0, updated_at=timezone.now()
    )
    if claimed != 1:
        return None
    return ImportRun.objects.get(pk=run_id)


def _finish(run: ImportRun, status: str, message: str = "") -> ImportRun:
    run.status = status
    run.message = message
    run.finished_at = timezone.now()
    run.save()
    if status != Status.PREVIEW:
        _audit_import(run)
    if (
        status in (Status.DONE, Status.REJECTED, Status.FAILED, Status.CANCELLED)
        and run.file
    ):
        # Data minimisation: the uploaded staff list is only kept until the
        # import is decided; the run keeps its name, SHA-256 and counts.
        run.file.delete(save=True)
    return run


def _audit_import(run: ImportRun) -> None:
    actor = run.user if run.user_id else (f"shell:{run.actor}" if run.actor else None)
    if run.source == ImportRun.Source.API:  # "api:<key name>", as given
        actor = run.actor
    after = {
        "status": run.status,
        "file_name": run.file_name,
        "file_sha256": run.file_sha256,
        "sync": run.sync,
        "skip_invalid": run.skip_invalid,
        "dry_run": run.dry_run,
        "created": run.created,
        "updated": run.updated,
        "unchanged": run.unchanged,
        "deactivated": run.deactivated,
        "errors": run.error_count,
    }
    audit_record(actor=actor, action=AuditAction.IMPORT, target=run, after=after)


def import_run_create(
    *,
    file: IO[bytes],
    file_name: str,
    user: Any = None,
    source: str = ImportRun.Source.ADMIN,
    sync: bool = False,
    skip_invalid: bool = False,
    dry_run: bool = False,
) -> ImportRun:
    """Record an uploaded file, to be analysed (preview) and then committed."""
    run = ImportRun(
        user=user if getattr(user, "pk", None) else None,
        actor=user.get_username() if getattr(user, "pk", None) else "",
        source=source,
        file_name=file_name[:255],
        file_sha256=_sha256(file),
        sync=sync,
        skip_invalid=skip_invalid,
        dry_run=dry_run,
        status=Status.PENDING,
    )
    run.file.save(file_name, File(file, name=file_name), save=False)
    run.save()
    return run


def import_runs_in_request(*, file: IO[bytes]) -> bool:
    """Analyse and import this file during the web request, or in a worker?
    Decided by what the file expands to (an XLSX's parts uncompressed), not
    its size. A file over the limits is refused at once, so in the request."""
    try:
        size = importing.expanded_size(file)
    except ImportFileError:
        return True
    finally:
        file.seek(0)
    return size <= settings.IMPORT_SYNC_MAX_BYTES


def import_run_analyse(*, run_id: int) -> ImportRun:
    """Dry run of the stored file: counts, errors and warnings for the preview."""
    run = _claim(run_id, from_statuses=(Status.PENDING,), to_status=Status.ANALYSING)
    if run is None:
        return ImportRun.objects.get(pk=run_id)
    try:
        with run.file.open("rb") as binary:
            plan = importing.analyse_file(
                binary, sync=run.sync, progress=_progress_writer(run.pk)
            )
    except ImportFileError as exc:
        return _finish(run, Status.REJECTED, str(exc))
    except Exception:
        logger.exception("Import %s: analysis failed", run.pk)
        return _finish(
            run,
            Status.FAILED,
            _("Unexpected error while reading the file; nothing was written."),
        )
    _store_counts(run, plan=plan)
    return _finish(run, Status.PREVIEW)


def import_run_confirm(*, run_id: int, deactivate_count: int | None = None) -> bool:
    """The person confirmed the preview; a worker (or the request, for a small
    file) commits it. False when the run was already confirmed, cancelled or
    decided: a second click or another tab; or when it deactivates more than
    IMPORT_DEACTIVATE_WARN_PERCENT and ``deactivate_count`` is not that number."""
    run = ImportRun.objects.filter(pk=run_id).first()
    if run is None:
        return False
    if import_run_needs_typed_count(run) and deactivate_count != run.deactivated:
        return False
    now = timezone.now()
    confirmed = ImportRun.objects.filter(pk=run_id, status=Status.PREVIEW).update(
        status=Status.CONFIRMED, confirmed_at=now, updated_at=now
    )
    return confirmed == 1


def import_run_commit(*, run_id: int) -> ImportRun:
    """The real import of the stored file, in one transaction."""
    run = _claim(
        run_id,
        from_statuses=(Status.CONFIRMED, Status.PREVIEW, Status.PENDING),
        to_status=Status.IMPORTING,
    )
    if run is None:
        return ImportRun.objects.get(pk=run_id)
    try:
        with run.file.open("rb") as binary:
            # Analysed again: the directory may have changed since the preview.
            result = importing.run_import(
                binary,
                sync=run.sync,
                skip_invalid=run.skip_invalid,
                progress=_progress_writer(run.pk),
                # What the person confirmed: a directory changed since the
                # preview must not turn it into a bigger deactivation.
                check=deactivation_check(run.deactivated),
            )
    except ImportFileError as exc:
        return _finish(run, Status.REJECTED, str(exc))
    except Exception:
        logger.exception("Import %s failed", run.pk)
        return _finish(
            run,
            Status.FAILED,
            _("Unexpected error during the import; nothing was written."),
        )
    _store_counts(run, result=result)
    if not result.written:
        return _finish(
            run, Status.REJECTED, _("The file has invalid rows; nothing was written.")
        )
    return _finish(run, Status.DONE)


# A run working without progress for this long lost its worker (killed, or
# the machine restarted). Progress is written every few thousand rows, so a
# live run is never this quiet.
STALLED_AFTER = timedelta(minutes=10)


def import_runs_requeue_stalled(
    *, now: datetime | None = None
) -> list[tuple[int, str]]:
    """Put runs whose worker died back in the queue: (run id, task to run).

    Safe because nothing of a run is written before its single transaction
    commits: a run that died while analysing or importing wrote nothing."""
    cutoff = (now or timezone.now()) - STALLED_AFTER
    requeued = []
    for status, back_to, task in (
        (Status.ANALYSING, Status.PENDING, "analyse"),
        (Status.IMPORTING, Status.CONFIRMED, "commit"),
    ):
        for run_id in ImportRun.objects.filter(
            status=status, updated_at__lt=cutoff
        ).values_list("pk", flat=True):
            if ImportRun.objects.filter(
                pk=run_id, status=status, updated_at__lt=cutoff
            ).update(status=back_to, rows_done=0, updated_at=timezone.now()):
                logger.warning(
                    "Import %s stalled while %s; queued again", run_id, status
                )
                requeued.append((run_id, task))
    return requeued


def employee_set_active(
    *, employee_ids: list[int], active: bool, user: Any = None
) -> list[int]:
    """(De)activate employees; never deletes (their history stays).
    Returns the ids that changed."""
    now = timezone.now()
    changing = list(
        Employee.objects.filter(pk__in=employee_ids, is_active=not active).values_list(
            "pk", flat=True
        )
    )
    Employee.objects.filter(pk__in=changing, is_active=not active).update(
        is_active=active, deactivated_at=None if active else now, updated_at=now
    )
    if changing:
        audit_record(
            actor=user,
            action=AuditAction.EMPLOYEE_CHANGE,
            before={"is_active": not active, "employee_ids": changing},
            after={"is_active": active, "employee_ids": changing},
        )
    return changing


def import_run_cancel(*, run_id: int) -> ImportRun:
    run = _claim(
        run_id,
        from_statuses=(Status.PREVIEW, Status.PENDING),
        to_status=Status.CANCELLED,
    )
    if run is None:
        return ImportRun.objects.get(pk=run_id)
    return _finish(run, Status.CANCELLED)


def import_from_shell(
    *,
    binary: IO[bytes],
    file_name: str,
    sync: bool,
    skip_invalid: bool,
    dry_run: bool,
    confirm_deactivate: int | None = None,
    api_actor: str = "",
) -> tuple[ImportRun, ImportResult | None, ImportFileError | None]:
    """The ``import_employees`` command (and the API, ``api_actor`` naming its
    key): run now, record the run, no stored copy."""
    run = ImportRun.objects.create(
        source=ImportRun.Source.API if api_actor else ImportRun.Source.SHELL,
        actor=api_actor or _os_user(),
        file_name=file_name[:255],
        file_sha256=_sha256(binary),
        sync=sync,
        skip_invalid=skip_invalid,
        dry_run=dry_run,
        status=Status.IMPORTING,
    )
    try:
        result = importing.run_import(
            binary,
            sync=sync,
            skip_invalid=skip_invalid,
            dry_run=dry_run,
            check=deactivation_check(confirm_deactivate),
        )
    except ImportFileError as exc:
        _finish(run, Status.REJECTED, str(exc))
        return run, None, exc
    except Exception:
        # Never leave the run "importing" for ever: it failed, say so (the
        # transaction rolled back, nothing was written), then let the
        # command report it.
        logger.exception("Import %s failed", run.pk)
        _finish(
            run,
            Status.FAILED,
            _("Unexpected error during the import; nothing was written."),
        )
        raise
    _store_counts(run, result=result)
    if dry_run:
        status = Status.DRY_RUN
    elif result.written:
        status = Status.DONE
    else:
        status = Status.REJECTED
    _finish(run, status)
    return run, result, None


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return ""
