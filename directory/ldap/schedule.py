"""``DIRECTORY_SYNC_SCHEDULE`` read for beat (config/celery.py): empty or
"off" for no scheduled sync, a number of seconds ("3600"), or a crontab of
five fields ("15 2 * * *": every night at 02:15). Read by the Celery app
before Django's settings (config/__init__.py imports it first), so only
Django's exception is used here: a malformed value stops the start with the
variable's name."""

from __future__ import annotations

from celery.schedules import BaseSchedule, crontab, schedule
from django.core.exceptions import ImproperlyConfigured

TASK = "directory.ldap_sync"


def sync_schedule(raw: str) -> BaseSchedule | None:
    value = raw.strip()
    if value.lower() in ("", "off", "0"):
        return None
    fields = value.split()
    if len(fields) == 1:
        try:
            seconds = float(value)
        except ValueError:
            seconds = -1.0
        if seconds < 60:
            raise ImproperlyConfigured(
                f"DIRECTORY_SYNC_SCHEDULE must be off, at least 60 seconds or a "
                f"crontab like '15 2 * * *', not {raw!r}"
            )
        return schedule(seconds)
    if len(fields) != 5:
        raise ImproperlyConfigured(
            f"DIRECTORY_SYNC_SCHEDULE: a crontab has five fields "
            f"(minute hour day month weekday), not {raw!r}"
        )
    minute, hour, day, month, weekday = fields
    try:
        return crontab(
            minute=minute,
            hour=hour,
            day_of_month=day,
            month_of_year=month,
            day_of_week=weekday,
        )
    except ValueError as exc:
        raise ImproperlyConfigured(f"DIRECTORY_SYNC_SCHEDULE {raw!r}: {exc}") from None


def beat_entries(raw: str) -> dict[str, dict]:
    """The beat entry of the sync, none when the schedule is off. A sync
    that could not start before the next one is due expires."""
    every = sync_schedule(raw)
    if every is None:
        return {}
    expires = 3600.0
    if isinstance(every, schedule) and not isinstance(every, crontab):
        expires = every.run_every.total_seconds()
    return {
        "directory-ldap-sync": {
            "task": TASK,
            "schedule": every,
            "options": {"expires": expires},
        }
    }
