from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from notifications.campaigns import services, steering
from notifications.campaigns.library import TEMPLATES


def _deadline(text: str) -> datetime:
    """YYYY-MM-DD (midnight starting that day) or YYYY-MM-DDTHH:MM, local."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(
            f"--deadline must be YYYY-MM-DD or YYYY-MM-DDTHH:MM, not {text!r}"
        ) from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(settings.TIME_ZONE))
    return value


def _messages(error: ValidationError) -> str:
    return "\n".join(f"- {m}" for m in error.messages)


class Command(BaseCommand):
    help = (
        "Create a campaign (draft, default cadence) and print its id as the last "
        "line; --launch also launches it and enrols the audience."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument(
            "--deadline",
            required=True,
            help="YYYY-MM-DD (00:00 that day) or YYYY-MM-DDTHH:MM, in TIME_ZONE",
        )
        parser.add_argument("--template", choices=sorted(TEMPLATES), default="")
        parser.add_argument("--department", action="append", default=[])
        parser.add_argument("--country", action="append", default=[])
        parser.add_argument(
            "--language",
            action="append",
            default=[],
            choices=[code for code, _name in settings.LANGUAGES],
        )
        parser.add_argument(
            "--window", default="09:00-17:00", help="HH:MM-HH:MM (Mon-Fri) or always"
        )
        parser.add_argument("--from-email", default="")
        parser.add_argument("--reply-to", default="")
        parser.add_argument("--dpo-contact", default="")
        parser.add_argument("--launch", action="store_true")

    def handle(self, *args: object, **options: object) -> None:
        if options["launch"] and steering.approval_required():
            raise CommandError(
                "Launch refused (nothing created): LAUNCH_REQUIRES_APPROVAL is on, "
                "so a launch is asked for and approved by two DPO users on the "
                "campaign's dashboard. Create without --launch."
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
                    self.stderr.write(f"Launched: {enrolled} recipients enrolled.")
        except services.CampaignError as exc:
            raise CommandError(
                f"Launch refused (nothing created):\n{_messages(exc)}"
            ) from exc
        except ValidationError as exc:
            raise CommandError(_messages(exc)) from exc
        self.stdout.write(str(campaign.pk))
