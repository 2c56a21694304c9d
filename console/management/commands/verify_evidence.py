from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from console.evidence import EvidenceError, evidence_verify


class Command(BaseCommand):
    help = _(
        "Check an evidence export (CSV or HTML) on its own and against the "
        "database; exits non-zero naming the first mismatch."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "file", type=Path, help=_("the evidence export (CSV or HTML) to check")
        )
        parser.add_argument(
            "--offline",
            action="store_true",
            help=_("Only check the file's own hashes (no database)."),
        )

    def handle(self, *args, file: Path, offline: bool, **options) -> None:
        try:
            problems = evidence_verify(file.read_bytes(), database=not offline)
        except (OSError, EvidenceError, ValueError) as exc:
            raise CommandError(
                _("Cannot read %(file)s: %(error)s") % {"file": file, "error": exc}
            ) from exc
        if problems:
            raise CommandError(
                _("Evidence NOT verified: %(problem)s") % {"problem": problems[0]}
            )
        self.stdout.write(_("Evidence verified: %(file)s") % {"file": file})
