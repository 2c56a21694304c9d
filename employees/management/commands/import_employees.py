"""python manage.py import_employees FILE [--dry-run] [--skip-invalid]
[--sync [--confirm-deactivate N]] [--json]

Exit status: 0 imported (or importable with --dry-run) without row errors;
1 row errors (with --skip-invalid the valid rows were still imported);
2 the file itself cannot be read, or is over the IMPORT_MAX_* limits, or
--sync would deactivate more than IMPORT_DEACTIVATE_WARN_PERCENT of the
active staff and --confirm-deactivate does not give that exact number;
3 unexpected failure (database down, a bug): nothing written, the run is
marked failed, the traceback is in the log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

from employees import reporting, services
from employees.importing import ImportFileError, open_path


class Command(BaseCommand):
    help = _("Import the staff list from a CSV or XLSX file.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "file", help=_("CSV (UTF-8 or Windows-1252; , ; or tab) or XLSX file")
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help=_("write nothing; report what would happen"),
        )
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help=_("import the valid rows, report the others"),
        )
        parser.add_argument(
            "--sync",
            action="store_true",
            help=_("the file is the full list: deactivate the absent"),
        )
        parser.add_argument(
            "--confirm-deactivate",
            type=int,
            metavar="N",
            help=_(
                "with --sync: confirm that N employees are deactivated (required "
                "above IMPORT_DEACTIVATE_WARN_PERCENT of the active staff)"
            ),
        )
        parser.add_argument(
            "--json", action="store_true", help=_("print one JSON object")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        try:
            binary = open_path(path)
        except ImportFileError as exc:
            self._fail(exc, options["json"])
        with binary:
            try:
                _run, result, error = services.import_from_shell(
                    binary=binary,
                    file_name=path.name,
                    sync=options["sync"],
                    skip_invalid=options["skip_invalid"],
                    dry_run=options["dry_run"],
                    confirm_deactivate=options["confirm_deactivate"],
                )
            except Exception as exc:  # logged, and the run marked failed
                self._fail(
                    ImportFileError(
                        _("Unexpected error (%(kind)s); nothing was written.")
                        % {"kind": exc.__class__.__name__}
                    ),
                    options["json"],
                    status=3,
                )
        if isinstance(error, services.DeactivationNotConfirmed):
            error = ImportFileError(
                _(
                    "--sync would deactivate %(count)s of the %(total)s active "
                    "employees, more than %(percent)s %%; nothing was written. "
                    "Check the file (--dry-run --json lists the counts), then run "
                    "again with --confirm-deactivate %(count)s."
                )
                % {
                    "count": error.deactivating,
                    "total": error.active_total,
                    "percent": services.deactivate_warn_percent(),
                }
            )
        if error is not None:
            self._fail(error, options["json"])
        assert result is not None
        reporting.finish(self, reporting.FILE, result, as_json=options["json"])

    def _fail(self, error: ImportFileError, as_json: bool, status: int = 2) -> NoReturn:
        reporting.fail(
            self,
            reporting.FILE,
            str(error),
            line=error.line,
            as_json=as_json,
            status=status,
        )
