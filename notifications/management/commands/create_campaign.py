from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils.translation import gettext as _

from notifications.campaigns import services, steering
from notifications.campaigns.library import TEMPLATES


def _deadline(text: str) -> datetime:
    """YYYY-MM-DD (midnight starting that day) or YYYY-MM-DDTHH:MM, local."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(
            _("--deadline must be YYYY-MM-DD or YYYY-MM-DDTHH:MM, not %(text)r")
            % {"text": text}
        ) from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(settings.TIME_ZONE))
    return value


def _messages(error: ValidationError) -> str:
    return "\n".join(f"- {m}" for m in error.messages)


class Command(BaseCommand):
    help = _(
        "Create a campaign (draft, default cadence) and print its id as the last "
        "line; --launch also launches it and enrols the audience."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help=_("the campaign's name"))
        parser.add_argument(
            "--deadline",
            required=True,
            help=_("YYYY-MM-DD (00:00 that day) or YYYY-MM-DDTHH:MM, in TIME_ZONE"),
        )
        parser.add_argument(
            "--template",
            choices=sorted(TEMPLATES),
            default="",
            help=_("texts from the library (default: none, write them in the admin)"),
        )
        parser.add_argument(
            "--department",
            action="append",
            default=[],
            help=_("only this department (repeat for several)"),
        )
        parser.add_argument(
            "--country",
            action="append",
            default=[],
            help=_("only this country (repeat for several)"),
        )
        parser.add_argument(
            "--language",
            action="append",
            default=[],
            choices=[code for code, _name in settings.LANGUAGES],
            help=_("only the people reading this language (repeat for several)"),
        )
        parser.add_argument(
            "--window",
            default="09:00-17:00",
            help=_("HH:MM-HH:MM (Mon-Fri) or always"),
        )
        parser.add_argument(
            "--from-email",
            default="",
            help=_("sender address (default: DEFAULT_FROM_EMAIL)"),
        )
        parser.add_argument(
            "--reply-to", default="", help=_("reply-to address (default: none)")
        )
        parser.add_argument(
            "--dpo-contact",
            default="",
            help=_(
                "shown in every message and page, e.g. dpo@example.com (default: "
                "the reply-to address, else the sender)"
            ),
        )
        parser.add_argument(
            "--launch",
            action="store_true",
            help=_("launch at once: enrol the audience, schedule the messages"),
        )

    def handle(self, *args: object, **options: object) -> None:
        if options["launch"] and steering.approval_required():
            raise CommandError(
                _(
                    "Launch refused (nothing created): LAUNCH_REQUIRES_APPROVAL is "
                    "on, so a launch is asked for and approved by two DPO users on "
                    "the campaign's dashboard. Create without --launch."
                )
            )
        try:
            with transaction.atomic():
                campaign = services.campaign_create(
                    name=options["name"],
                    deadline=_deadline(options["deadline"]),
                    template=options["template"],
                    departments=options["department"],
                    countries=options["country"],
                    languages=options["language"],
                    window=services.WindowSpec.parse(options["window"]),
                    from_email=options["from_email"],
                    reply_to=options["reply_to"],
                    dpo_contact=options["dpo_contact"],
                )
                if options["launch"]:
                    enrolled = services.campaign_launch(campaign=campaign)
                    self.stderr.write(
                        _("Launched: %(count)s recipients enrolled.")
                        % {"count": enrolled}
                    )
        except services.CampaignError as exc:
            raise CommandError(
                _("Launch refused (nothing created):\n%(reasons)s")
                % {"reasons": _messages(exc)}
            ) from exc
        except ValidationError as exc:
            raise CommandError(_messages(exc)) from exc
        self.stdout.write(str(campaign.pk))
