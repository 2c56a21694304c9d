from __future__ import annotations

import io

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import translation
from django.utils.translation import gettext as _

from audit.services import os_user
from notifications.campaigns.links import links_csv_write
from notifications.campaigns.selectors import campaign_links
from notifications.campaigns.services import links_export_record
from notifications.management.lookup import campaign_find
from notifications.models import LINKS_AVAILABLE


class Command(BaseCommand):
    help = _(
        "Personal acknowledgement links of a launched campaign as CSV "
        "(email,first_name,last_name,department,link; --excel: the admin's "
        "download), for staff without a mailbox. CAMPAIGN: id or name. "
        "Recorded in the audit log under the OS user."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("campaign", help=_("the campaign's id or name"))
        parser.add_argument(
            "--excel",
            action="store_true",
            help=_(
                "The admin's download instead: BOM, the delimiter and headers "
                "of --language (';' and French headers for fr)."
            ),
        )
        parser.add_argument(
            "--language",
            default=settings.LANGUAGE_CODE,
            help=_("With --excel: the language of the headers and delimiter."),
        )
        parser.add_argument(
            "--pending",
            action="store_true",
            help=_("Only the recipients who have not acknowledged yet."),
        )

    def handle(self, *args: object, **options: object) -> None:
        campaign = campaign_find(options["campaign"])
        if campaign.status not in LINKS_AVAILABLE:
            raise CommandError(
                _(
                    "Campaign %(name)s is %(status)s: links exist once it is "
                    "launched, and die when it is cancelled."
                )
                % {"name": repr(campaign.name), "status": campaign.status}
            )
        pending = bool(options["pending"])
        # Recorded before a single link is printed: no links without an entry.
        out = io.StringIO()
        # The default stays the plain form scripts were written against.
        excel = bool(options["excel"])
        language = str(options["language"])
        with translation.override(language if excel else None):
            count = links_csv_write(
                campaign_links(campaign, pending=pending),
                out,
                plain=not excel,
                language=language,
            )
        links_export_record(
            campaign=campaign,
            actor=os_user(),
            pending=pending,
            count=count,
            form="command",
        )
        self.stdout.write(out.getvalue(), ending="")
