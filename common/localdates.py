"""Dates and times as an employee reads them in their own language.

CLDR's patterns and month names through Babel (already a dependency for the
time zones' city names): Django's own date formats write English dates the
American way with a 12-hour clock, have none for Maltese, and give some
languages' months in the wrong case (Slovak "2. november" for "2. novembra",
capitals in Italian and Romanian). Every time is on a 24-hour clock.

A deadline at 00:00 is shown as the last minute of the day before
("2 November 2025, 23:59", not "3 November 2025"): people read a date alone,
or a day at 00:00, as "during that day", and would act a day late. The
instant itself never changes; only its wording does (see README, Languages).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from babel import Locale
from babel.dates import format_date, format_skeleton

# CLDR's plain "en" is American English ("November 2, 2025", "11:59 PM");
# the organisations this tool serves write English the European way.
_CLDR_LOCALE = {"en": "en_IE"}


def cldr_locale(language: str) -> str:
    """The CLDR locale that writes ``language``'s dates (``en`` → ``en_IE``)."""
    return _CLDR_LOCALE.get(language, language)


def long_date(day: date, language: str) -> str:
    """ "2 November 2025", "2. listopada 2025" → "2 listopada 2025", …"""
    return format_date(day, "long", locale=cldr_locale(language))


def time_of_day(moment: datetime, language: str) -> str:
    """Hours and minutes on a 24-hour clock, with the language's separator
    ("23:59", Finnish and Danish "23.59")."""
    return format_skeleton("Hm", moment, locale=cldr_locale(language))


_QUOTED = re.compile(r"'([^']*)'")


def date_and_time(moment: datetime, language: str) -> str:
    """The date written out and the time: "2 November 2025, 23:59",
    "2. November 2025 um 23:59". ``moment`` is already in the reader's zone."""
    locale = Locale.parse(cldr_locale(language))
    # CLDR's glue between a long date and a time, e.g. "{1} 'at' {0}".
    glue = str(locale.datetime_formats["long"])
    glue = _QUOTED.sub(lambda m: m.group(1) or "'", glue)
    return glue.replace("{1}", long_date(moment, language)).replace(
        "{0}", time_of_day(moment, language)
    )


def deadline_moment(local: datetime) -> datetime:
    """The moment to write for a deadline at ``local`` (its reader's zone):
    00:00 becomes 23:59 the day before, so the day written is the last day
    on which one can still act."""
    if (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0):
        return local - timedelta(minutes=1)
    return local
