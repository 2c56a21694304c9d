from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from audit.services import os_user
from console.bundle import building
from console.bundle.keys import SigningKeyError
from console.bundle.timestamping import TimestampError
from notifications.management.lookup import campaign_find
from notifications.models import CampaignStatus


class Command(BaseCommand):
    help = _(
        "Write a campaign's signed evidence bundle (CAMPAIGN: id or name) to "
        "OUT.zip, which an auditor checks alone with the verify.py inside."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("campaign", help=_("the campaign's id or name"))
        parser.add_argument(
            "out", type=Path, help=_("the ZIP file to write, in an existing folder")
        )
        parser.add_argument(
            "--no-timestamp",
            action="store_true",
            help=_(
                "Build without asking EVIDENCE_TSA_URL for a timestamp (the "
                "bundle then says it is not timestamped)."
            ),
        )

    def handle(self, *args, campaign: str, out: Path, **options) -> None:
        found = campaign_find(campaign)
        if found.status == CampaignStatus.DRAFT:
            raise CommandError(_("A draft campaign has no evidence yet."))
        if out.is_dir() or not out.parent.is_dir():
            raise CommandError(
                _("%(out)s: give a file name in an existing folder") % {"out": out}
            )
        try:
            built = building.bundle_to_path(
                out,
                campaign=found,
                actor=os_user(),
                timestamped=not options["no_timestamp"],
            )
        except (SigningKeyError, TimestampError, OSError) as exc:
            raise CommandError(
                _("No bundle written: %(error)s") % {"error": exc}
            ) from exc
        counts = built.counts
        self.stdout.write(
            _(
                "%(out)s: %(recipients)s recipients, %(messages)s messages, "
                "%(acknowledged)s acknowledgements; signed by key %(key)s"
            )
            % {"out": out, "key": built.fingerprint, **counts}
        )
        if built.timestamp:
            self.stdout.write(
                _("Timestamped %(time)s by %(authority)s")
                % {
                    "time": built.timestamp.time.isoformat(),
                    "authority": built.timestamp.authority,
                }
            )
        else:
            self.stdout.write(_("Not timestamped."))
        self.stdout.write(_("SHA-256 of the ZIP: %(sha)s") % {"sha": built.sha256})
