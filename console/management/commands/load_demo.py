"""`python manage.py load_demo`: fictional staff and an admin login for a demo."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from console import demo


class Command(BaseCommand):
    help = _(
        "Load fictional demo employees (@example.com) and an 'admin' login. "
        "Running it again changes nothing."
    )

    def handle(self, *args: object, **options: object) -> None:
        result = demo.load()
        if result.employees_created:
            self.stdout.write(
                ngettext(
                    "Created %(created)d demo employee (%(present)d in total).",
                    "Created %(created)d demo employees (%(present)d in total).",
                    result.employees_created,
                )
                % {
                    "created": result.employees_created,
                    "present": result.employees_present,
                }
            )
        else:
            self.stdout.write(
                _("Demo employees already loaded (%(present)d): nothing changed.")
                % {"present": result.employees_present}
            )
        if result.campaign:
            self.stdout.write(result.campaign)
        self._print_login(result)

    def _print_login(self, result: demo.DemoResult) -> None:
        if result.admin_created:
            self.stdout.write(_("Created the admin login."))
        login = _("Log in at %(url)s  user: %(user)s  password: %(password)s") % {
            "url": f"{settings.SITE_URL}/admin/",
            "user": demo.DEMO_ADMIN_USERNAME,
            "password": result.admin_password,
        }
        line = "=" * len(login)
        self.stdout.write(self.style.SUCCESS(f"{line}\n{login}\n{line}"))
        self.stdout.write(
            _("(the password is kept in %(path)s)") % {"path": result.password_file}
        )
        if not result.admin_password_works:
            self.stdout.write(
                self.style.WARNING(
                    _(
                        "The admin password was changed since it was generated, "
                        "so the one above no longer works: use the new one, or "
                        "run: python manage.py changepassword %(user)s"
                    )
                    % {"user": demo.DEMO_ADMIN_USERNAME}
                )
            )
