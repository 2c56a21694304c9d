from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from notifications.campaigns.selectors import campaign_status
from notifications.management.lookup import campaign_find

_COLUMNS = ("targeted", "queued", "sent", "failed", "delivered", "bounced")


def _headers() -> list[str]:
    """The table's column titles in the active language; the values under
    them stay the codes --json prints (a step's kind and status)."""
    context = "campaign_status column"
    return [
        pgettext(context, "step"),
        pgettext(context, "status"),
        pgettext(context, "due"),
        pgettext(context, "targeted"),
        pgettext(context, "queued"),
        pgettext(context, "sent"),
        pgettext(context, "failed"),
        pgettext(context, "delivered"),
        pgettext(context, "bounced"),
    ]


class Command(BaseCommand):
    help = _("Progress of a campaign (CAMPAIGN: id or name); --json for scripts.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("campaign", help=_("the campaign's id or name"))
        parser.add_argument(
            "--json", action="store_true", help=_("print one JSON object")
        )

    def handle(self, *args: object, **options: object) -> None:
        status = campaign_status(campaign_find(options["campaign"]))
        if options["json"]:
            self.stdout.write(json.dumps(status, ensure_ascii=False, indent=2))
            return
        self.stdout.write(
            _(
                "%(name)s (#%(id)s, ref %(reference)s): %(status)s, deadline %(deadline)s"
            )
            % status
        )
        self.stdout.write(
            _("Audience %(audience)s, acknowledged %(acknowledged)s") % status
        )
        step, state, due, *counts = _headers()
        self.stdout.write(
            f"{step:<15} {state:<12} {due:<26}" + "".join(f"{c:>10}" for c in counts)
        )
        for step in status["steps"]:
            self.stdout.write(
                f"{step['kind']:<15} {step['status']:<12} {step['due'] or '-':<26}"
                + "".join(f"{step[c]:>10}" for c in _COLUMNS)
            )
