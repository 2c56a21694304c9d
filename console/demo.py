"""Demo data for `python manage.py load_demo` (and `python3 dev.py demo`).

The fictional staff come from the directory (employees/demo.py); this module
adds what spans the domains: an admin login and the ready-made LinkedIn
campaign, launched for that staff. Idempotent: a second load finds everything
present and changes nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from employees.demo import DEMO_DOMAIN, employees_load
from notifications.campaigns import services
from notifications.models import Campaign

DEMO_ADMIN_USERNAME = "admin"


@dataclass(frozen=True)
class DemoResult:
    employees_created: int
    employees_present: int
    admin_created: bool
    admin_password: str
    admin_password_works: bool
    password_file: Path
    campaign: str


def admin_password_file() -> Path:
    return Path(settings.VAR_DIR) / "demo-admin-password.txt"


def admin_load() -> tuple[bool, str, bool]:
    """Ensure the `admin` superuser exists with the password kept in var/.

    Returns (created, password, password_works). The password is generated
    once and stored, so every run prints the same working login; when someone
    has changed it in the admin since, it is left alone and reported.
    """
    path = admin_password_file()
    if path.exists():
        password = path.read_text().strip()
    else:
        password = secrets.token_urlsafe(12)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(password + "\n")
        path.chmod(0o600)
    user_model = get_user_model()
    user = user_model.objects.filter(username=DEMO_ADMIN_USERNAME).first()
    if user is None:
        user_model.objects.create_superuser(
            DEMO_ADMIN_USERNAME, f"{DEMO_ADMIN_USERNAME}@{DEMO_DOMAIN}", password
        )
        return True, password, True
    return False, password, user.check_password(password)


DEMO_CAMPAIGN_NAME = "LinkedIn — IA générative (démo)"


def campaign_load() -> str:
    """The ready-made LinkedIn opt-out campaign, launched for the demo staff.

    Deadline two weeks ahead and no send window, so the first message lands
    in the outbox within a minute of the worker starting, whatever the hour;
    idempotent like the rest of the demo. Returns a line for the command."""
    if Campaign.objects.filter(name=DEMO_CAMPAIGN_NAME).exists():
        return _("Demo campaign already there: %(name)s") % {"name": DEMO_CAMPAIGN_NAME}
    deadline = timezone.localtime().replace(hour=18, minute=0, second=0, microsecond=0)
    campaign = services.campaign_create(
        name=DEMO_CAMPAIGN_NAME,
        deadline=deadline + timedelta(days=14),
        template="linkedin-ai-optout",
        window=services.WindowSpec(enabled=False),
        dpo_contact="dpo@example.com",
    )
    enrolled = services.campaign_launch(campaign=campaign)
    return ngettext(
        "Launched the demo campaign “%(name)s” for %(count)d employee: "
        "its first message goes out with the next dispatcher tick.",
        "Launched the demo campaign “%(name)s” for %(count)d employees: "
        "its first message goes out with the next dispatcher tick.",
        enrolled,
    ) % {"name": DEMO_CAMPAIGN_NAME, "count": enrolled}


def load() -> DemoResult:
    """Everything `manage.py load_demo` creates; safe to run any number of times."""
    created, present = employees_load()
    admin_created, password, works = admin_load()
    return DemoResult(
        employees_created=created,
        employees_present=present,
        admin_created=admin_created,
        admin_password=password,
        admin_password_works=works,
        password_file=admin_password_file(),
        campaign=campaign_load(),
    )
