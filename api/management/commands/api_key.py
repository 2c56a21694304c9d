"""``python manage.py api_key NAME --role DPO|HR|Viewer [--expires-days N]``

Prints the new key on its last line, once: only its hash is stored.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from api.keys import key_create
from api.models import ApiKey, Role
from audit.services import os_user


class Command(BaseCommand):
    help = "Create an API key with a role's permissions; prints it once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--role", required=True, choices=list(Role.values))
        parser.add_argument("--expires-days", type=int, default=None)

    def handle(self, *args: object, **options: object) -> None:
        name = str(options["name"]).strip()
        if not name or len(name) > 100:
            raise CommandError("NAME must be 1 to 100 characters.")
        if ApiKey.objects.filter(name=name).exists():
            raise CommandError(f"A key named {name!r} exists (revoke it in the admin).")
        days = options["expires_days"]
        expires = timezone.now() + timedelta(days=days) if days else None
        key, clear = key_create(
            name=name, role=str(options["role"]), actor=os_user(), expires_at=expires
        )
        self.stdout.write(
            f"API key {key.name!r} ({key.role}) created; it is shown once, keep it now:"
        )
        self.stdout.write(clear)
