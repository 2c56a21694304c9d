from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from audit.services import os_user
from console.retention import purge_expired


class Command(BaseCommand):
    help = _(
        "Anonymise recipients and deliveries of campaigns past their retention "
        "period and employees deactivated for longer than theirs."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help=_("List what would be anonymised; change nothing."),
        )

    def handle(self, *args, dry_run: bool, **options) -> None:
        report = purge_expired(dry_run=dry_run, actor=os_user())
        verb = _("Would anonymise") if dry_run else _("Anonymised")
        for campaign in report.campaigns:
            self.stdout.write(
                _("%(verb)s campaign %(name)s") % {"verb": verb, "name": campaign}
            )
        for employee in report.employees:
            self.stdout.write(
                _("%(verb)s employee #%(id)s") % {"verb": verb, "id": employee.pk}
            )
        self.stdout.write(
            _("%(verb)s: %(c)s campaign(s), %(e)s employee(s).")
            % {"verb": verb, "c": len(report.campaigns), "e": len(report.employees)}
        )
