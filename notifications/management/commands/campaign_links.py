from __future__ import annotations

import io

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.services import os_user
from notifications.campaigns.links import links_csv_write
from notifications.campaigns.selectors import campaign_links
from notifications.campaigns.services import links_export_record
from notifications.management.commands.campaign_status import _find
from notifications.models import LINKS_AVAILABLE


class Command(BaseCommand):
    help = (
        "Personal acknowledgement links of a launched campaign as CSV "
        "(email,first_name,last_name,department,link), for staff without a "
        "mailbox. CAMPAIGN: id or name. Recorded in the audit log under the "
        "OS user."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("campaign")
        parser.add_argument(
            "--pending",
            action="store_true",
            help="Only the recipients who have not acknowledged yet.",
        )

    def handle(self, *args: object, **options: object) -> None:
        campaign = _find(options["campaign"])
        if campaign.status not in LINKS_AVAILABLE:
            raise CommandError(
                f"Campaign {campaign.name!r} is {campaign.status}: links exist "
                "once it is launched, and die when it is cancelled."
            )
        pending = bool(options["pending"])
        # Recorded before a single link is printed: no links without an entry.
        out = io.StringIO()
        count = links_csv_write(campaign_links(campaign, pending=pending), out)
        links_export_record(
            campaign=campaign,
            actor=os_user(),
            pending=pending,
            count=count,
            form="command",
        )
        self.stdout.write(out.getvalue(), ending="")
