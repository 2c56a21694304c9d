"""``directory_sync``: read the whole directory, then import it as a full
list (``--sync``) through the staff import, recorded as an ``ImportRun``
whose source is LDAP, with its counts and an audit entry, as a staff file
import is.

Order matters for "a run that fails changes nobody": the search is complete
(every page, the server's last answer a success) before anything is
planned, and the plan is written in one transaction. An unreachable server,
a refused bind or a broken search ends the run as failed, with nobody
deactivated.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditAction
from audit.services import audit_record
from directory.ldap.client import (
    DirectoryUnavailable,
    LdapConfig,
    directory_connection,
    entry_read,
    search_entries,
)
from directory.ldap.mapping import entries_records, requested_attributes
from employees.importing import ImportFileError, ImportResult
from employees.importing.records import RecordsResult, SourceRecord, run_records
from employees.models import ImportRun
from employees.services import (
    STALLED_AFTER,
    deactivation_check,
)

logger = logging.getLogger(__name__)

Status = ImportRun.Status
SOURCE = "ldap"
# Entries read between two progress writes on the run.
PROGRESS_EVERY = 5000


@dataclass
class SyncOutcome:
    run: ImportRun | None
    result: ImportResult | None = None
    # Why nothing was written: the directory unreadable, or the import
    # refused as a whole (exit status 2 for the command).
    error: Exception | None = None


def _running_sync() -> ImportRun | None:
    """A sync still at work (beat's while someone runs the command): its
    progress writes keep it fresh; one quiet for STALLED_AFTER died. Two
    syncs at once would not corrupt anything (one transaction each), but
    the second would fail on the first's new rows."""
    fresh = timezone.now() - STALLED_AFTER
    return (
        ImportRun.objects.filter(
            source=ImportRun.Source.LDAP, status=Status.IMPORTING, updated_at__gte=fresh
        )
        .order_by("created_at")
        .first()
    )


def _progress_writer(run_id: int) -> Callable[[int], None]:
    """The entries read so far, on the run (the Staff imports page shows
    them), every PROGRESS_EVERY: a live run keeps its ``updated_at`` fresh,
    so the stalled-import sweeper never takes it for a dead one."""
    last = [0]

    def write(done: int) -> None:
        if done - last[0] >= PROGRESS_EVERY:
            last[0] = done
            ImportRun.objects.filter(pk=run_id).update(
                rows_done=done, rows_total=done, updated_at=timezone.now()
            )

    return write


def _read(
    config: LdapConfig, run_id: int
) -> tuple[list[SourceRecord], list[str], dict[str, str]]:
    """The directory's entries as records (the connection stays open for the
    managers outside the search)."""
    names = requested_attributes(config.attributes)
    with directory_connection(config) as connection:
        entries = search_entries(connection, config, names, _progress_writer(run_id))
        email = list(config.attributes["email"])
        return entries_records(
            entries,
            config.attributes,
            lookup=lambda dn: entry_read(connection, dn, email),
        )


def _store(run: ImportRun, outcome: RecordsResult) -> None:
    result = outcome.result
    run.file_sha256 = outcome.sha256
    run.created, run.updated = result.created, result.updated
    run.unchanged, run.deactivated = result.unchanged, result.deactivated
    run.rows_total = run.rows_done = result.rows
    run.error_count, run.warning_count = result.error_count, result.warning_count
    run.errors = [issue.as_dict() for issue in result.errors[:1000]]
    run.warnings = [issue.as_dict() for issue in result.warnings[:1000]]
    run.deactivate_ids, run.active_total = result.deactivated_ids, result.active_total


def _finish(run: ImportRun, status: str, config: LdapConfig, message: str = "") -> None:
    run.status = status
    run.message = message
    run.finished_at = timezone.now()
    run.save()
    audit_record(
        actor=f"ldap:{run.actor}" if run.actor else "ldap",
        action=AuditAction.IMPORT,
        target=run,
        after={
            "status": run.status,
            "source": SOURCE,
            "server": config.url,
            "base_dn": config.base_dn,
            "filter": config.filter,
            "file_sha256": run.file_sha256,
            "sync": True,
            "skip_invalid": run.skip_invalid,
            "dry_run": run.dry_run,
            "created": run.created,
            "updated": run.updated,
            "unchanged": run.unchanged,
            "deactivated": run.deactivated,
            "errors": run.error_count,
            "message": message,
        },
    )


def directory_sync(
    *,
    dry_run: bool = False,
    skip_invalid: bool = False,
    confirm_deactivate: int | None = None,
    actor: str = "",
    config: LdapConfig | None = None,
) -> SyncOutcome:
    """Read the directory and import it as the full staff list."""
    config = config or LdapConfig.from_settings()
    if not config.url:
        return SyncOutcome(
            run=None, error=DirectoryUnavailable(_("DIRECTORY_LDAP_URL is not set."))
        )
    running = _running_sync()
    if running is not None:
        return SyncOutcome(
            run=None,
            error=DirectoryUnavailable(
                _(
                    "Another directory sync (run %(run)s, started %(started)s) is "
                    "still running; nothing was done."
                )
                % {"run": running.pk, "started": running.created_at.isoformat()}
            ),
        )
    run = ImportRun.objects.create(
        source=ImportRun.Source.LDAP,
        actor=actor[:150],
        file_name=config.described[:255],
        sync=True,
        skip_invalid=skip_invalid,
        dry_run=dry_run,
        status=Status.IMPORTING,
    )
    try:
        records, columns, labels = _read(config, run.pk)
        outcome = run_records(
            records,
            columns=columns,
            labels=labels,
            source=SOURCE,
            sync=True,
            skip_invalid=skip_invalid,
            dry_run=dry_run,
            check=deactivation_check(confirm_deactivate),
        )
    except DirectoryUnavailable as exc:
        _finish(run, Status.FAILED, config, str(exc))
        return SyncOutcome(run=run, error=exc)
    except ImportFileError as exc:
        _finish(run, Status.REJECTED, config, str(exc))
        return SyncOutcome(run=run, error=exc)
    except Exception:
        logger.exception("Directory sync %s failed", run.pk)
        _finish(
            run,
            Status.FAILED,
            config,
            _("Unexpected error during the import; nothing was written."),
        )
        raise
    _store(run, outcome)
    result = outcome.result
    if dry_run:
        status = Status.DRY_RUN
    elif result.written:
        status = Status.DONE
    else:
        status = Status.REJECTED
    _finish(run, status, config)
    return SyncOutcome(run=run, result=result)
