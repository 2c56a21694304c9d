from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from audit.services import audit_verify


class Command(BaseCommand):
    help = _("Recompute the audit log's hash chain; exits non-zero when broken.")

    def handle(self, *args, **options) -> None:
        report = audit_verify()
        if not report.ok:
            raise CommandError(str(report))
        self.stdout.write(str(report))
