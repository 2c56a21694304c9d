"""``python manage.py api_key NAME --role DPO|HR|Viewer [--expires-days N]``

Prints the new key on its last line, once: only its hash is stored.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.translation import gettext as _

from api.keys import key_create
from api.models import ApiKey, Role
from audit.services import os_user


class Command(BaseCommand):
    help = _("Create an API key with a role's permissions; prints it once.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help=_("what the key is for, e.g. 'HRIS export'"))
        parser.add_argument(
            "--role",
            required=True,
            choices=list(Role.values),
            help=_("the key gets the permissions of a user with this role"),
        )
        parser.add_argument(
            "--expires-days",
            type=int,
            default=None,
            metavar="N",
            help=_("the key stops working after N days (default: never)"),
        )

    def handle(self, *args: object, **options: object) -> None:
        name = str(options["name"]).strip()
        if not name or len(name) > 100:
            raise CommandError(_("The name must have 1 to 100 characters."))
        if ApiKey.objects.filter(name=name).exists():
            raise CommandError(
                _("A key named %(name)s exists already (revoke it in the admin).")
                % {"name": repr(name)}
            )
        days = options["expires_days"]
        expires = timezone.now() + timedelta(days=days) if days else None
        key, clear = key_create(
            name=name, role=str(options["role"]), actor=os_user(), expires_at=expires
        )
        self.stdout.write(
            _("API key %(name)s (%(role)s) created; it is shown once, keep it now:")
            % {"name": repr(key.name), "role": key.role}
        )
        self.stdout.write(clear)
