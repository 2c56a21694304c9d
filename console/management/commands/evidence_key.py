from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from console.bundle import keys


class Command(BaseCommand):
    help = _(
        "Show the evidence signing key: every key that signed here, then the "
        "current public key's fingerprint on the last line (to file in the "
        "processing register). --rotate retires a generated key."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--rotate",
            action="store_true",
            help=_(
                "Retire the generated key (its public key is kept, bundles it "
                "signed still verify with its fingerprint) and make a new one."
            ),
        )

    def handle(self, *args, rotate: bool, **options) -> None:
        try:
            if rotate:
                old, key = keys.key_rotate()
                self.stdout.write(_("Retired key %(fp)s.") % {"fp": old})
            else:
                key = keys.signing_key()
        except keys.SigningKeyError as exc:
            raise CommandError(str(exc)) from exc
        earlier = [k for k in keys.known_keys() if k.fingerprint != key.fingerprint]
        if earlier:
            self.stdout.write(
                _(
                    "Earlier keys (bundles they signed still verify with "
                    "verify.py --key FINGERPRINT):"
                )
            )
            for known in earlier:
                self.stdout.write(f"  {known.since}  {known.fingerprint}")
        source = (
            _("generated, %(path)s")
            if key.generated
            else _("EVIDENCE_SIGNING_KEY, %(path)s")
        ) % {"path": key.path}
        self.stdout.write(_("Current key (Ed25519): %(source)s") % {"source": source})
        self.stdout.write(
            _("Public key fingerprint (SHA-256 of its DER, as openssl shows it):")
        )
        self.stdout.write(key.fingerprint)
