"""python manage.py scim_token NAME

Creates a bearer token for a SCIM client (Entra ID, Okta) and prints it on
its last line, once: only its hash is kept. Revoke it in the admin
(Identity provider → SCIM tokens). Exit status 2 when the name is taken."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from audit.models import AuditAction
from audit.services import audit_record, os_user
from directory.models import ScimToken
from directory.scim.auth import token_create


class Command(BaseCommand):
    help = _("Create a SCIM bearer token and print it (once).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help=_("what the token is for, e.g. 'Entra ID'"))

    def handle(self, *args: object, **options: object) -> None:
        name = str(options["name"]).strip()
        if not name or len(name) > 100:
            raise CommandError(
                _("The name must have 1 to 100 characters."), returncode=2
            )
        if ScimToken.objects.filter(name=name).exists():
            raise CommandError(
                _("A token named %(name)s exists already.") % {"name": name},
                returncode=2,
            )
        actor = os_user()
        row, token = token_create(name=name, created_by=actor)
        audit_record(
            actor=actor,
            action=AuditAction.SCIM_TOKEN_CHANGE,
            after={"scim_token_created": row.name},
            reason="SCIM token created",
        )
        self.stdout.write(
            _(
                "SCIM token %(name)s created. Paste it as the secret token of"
                " the provisioning settings; it is not shown again:"
            )
            % {"name": row.name}
        )
        self.stdout.write(token)
