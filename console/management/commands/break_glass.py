from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from audit.services import os_user
from console.break_glass import break_glass_grant


class Command(BaseCommand):
    help = _(
        "Emergency access: let one account log in with its password for a few "
        "minutes while ADMIN_PASSWORD_LOGIN is off (audited)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "username", help=_("the account that may log in with its password")
        )
        parser.add_argument(
            "--minutes",
            type=int,
            default=30,
            help=_("How long, in minutes (1 to 240)."),
        )

    def handle(self, *args, username: str, minutes: int, **options) -> None:
        try:
            grant = break_glass_grant(
                username=username, minutes=minutes, actor=os_user()
            )
        except get_user_model().DoesNotExist:
            raise CommandError(_("No user %(name)s.") % {"name": username}) from None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            _(
                "%(name)s may log in with a password at /admin/login/?password=1 until %(until)s."
            )
            % {"name": username, "until": grant.until.isoformat(timespec="minutes")}
        )
