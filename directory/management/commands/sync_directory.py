"""python manage.py sync_directory [--dry-run] [--skip-invalid]
[--confirm-deactivate N] [--json]

Reads the LDAP / Active Directory server of the DIRECTORY_LDAP_* settings
and imports it as the full staff list (directory/ldap/sync.py).

Exit status, as ``import_employees``: 0 imported (or importable with
--dry-run) without invalid entries; 1 invalid entries (with --skip-invalid
the valid ones were still imported); 2 the directory cannot be reached, the
bind is refused or the search is incomplete (nobody deactivated), or the
sync would deactivate more than IMPORT_DEACTIVATE_WARN_PERCENT of the
active staff and --confirm-deactivate does not give that number; 3
unexpected failure (nothing written, the run marked failed).
"""

from __future__ import annotations

import getpass
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

from directory.ldap.sync import directory_sync
from employees import reporting
from employees.services import DeactivationNotConfirmed, deactivate_warn_percent


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return ""


class Command(BaseCommand):
    help = _("Import the staff list from the LDAP / Active Directory server.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help=_("write nothing; report what would happen"),
        )
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help=_("import the valid entries, report the others"),
        )
        parser.add_argument(
            "--confirm-deactivate",
            type=int,
            metavar="N",
            help=_(
                "confirm that N employees are deactivated (required above "
                "IMPORT_DEACTIVATE_WARN_PERCENT of the active staff)"
            ),
        )
        parser.add_argument(
            "--json", action="store_true", help=_("print one JSON object")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            outcome = directory_sync(
                dry_run=options["dry_run"],
                skip_invalid=options["skip_invalid"],
                confirm_deactivate=options["confirm_deactivate"],
                actor=_os_user(),
            )
        except Exception as exc:  # logged, and the run marked failed
            self._fail(
                _("Unexpected error (%(kind)s); nothing was written.")
                % {"kind": exc.__class__.__name__},
                options["json"],
                status=3,
            )
        error = outcome.error
        if isinstance(error, DeactivationNotConfirmed):
            self._fail(
                _(
                    "The sync would deactivate %(count)s of the %(total)s active "
                    "employees, more than %(percent)s %%; nothing was written. "
                    "Check the base DN and filter (--dry-run --json lists the "
                    "counts), then run again with --confirm-deactivate %(count)s."
                )
                % {
                    "count": error.deactivating,
                    "total": error.active_total,
                    "percent": deactivate_warn_percent(),
                },
                options["json"],
            )
        if error is not None:
            self._fail(str(error), options["json"])
        result = outcome.result
        assert result is not None
        reporting.finish(self, reporting.DIRECTORY, result, as_json=options["json"])

    def _fail(self, message: str, as_json: bool, status: int = 2) -> NoReturn:
        reporting.fail(
            self, reporting.DIRECTORY, message, as_json=as_json, status=status
        )
