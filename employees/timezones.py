"""Which time zone a person lives in: the one rule delivery and the link page share.

A person's zone is, in this order:

1. their own (``Employee.time_zone``, an IANA name from the staff file's
   ``time zone`` column, the directory or the admin), when it is a zone this
   machine knows;
2. the default of their country or site (``Employee.country``) from the
   ``EMPLOYEE_TIME_ZONES`` setting (``PL=Europe/Warsaw,Lisbon=Europe/Lisbon``),
   compared without regard to case or surrounding spaces;
3. the zone of what they are being told about (a campaign's own zone, which
   is the organisation's ``TIME_ZONE`` unless the DPO chose another for it:
   a campaign for a US subsidiary set to America/New_York), else the
   organisation's ``TIME_ZONE``.

An unknown name in a person's record (typed by hand, a zone retired from the
tz database) falls through to the next rule instead of failing a send; an
unknown zone in the setting stops the process at start-up (config/settings.py).
"""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


@lru_cache(maxsize=1024)
def zone_known(name: str) -> ZoneInfo | None:
    """The zone called ``name``, or None when empty or unknown here."""
    if not name or name != name.strip():
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


@lru_cache(maxsize=1024)
def zone_spelled(raw: str) -> str | None:
    """The IANA name ``raw`` spells (any case: "europe/warsaw"), or None:
    how a person's zone is read wherever it comes from (the staff file and
    LDAP through it, the admin's employee page, SCIM)."""
    try:
        return ZoneInfo(raw).key
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return _zones_by_folded_name().get(raw.casefold())


def zone_clean(raw: str) -> str:
    """A zone typed in a form or sent to the API, as ``zone_spelled`` reads
    it ("" when empty); ValidationError when it is no zone."""
    name = raw.strip()
    if not name:
        return ""
    zone = zone_spelled(name)
    if zone is None:
        raise ValidationError(
            _(
                "“%(value)s” is not a time zone; write its IANA name, such as Europe/Paris."
            )
            % {"value": name}
        )
    return zone


@lru_cache(maxsize=1)
def _zones_by_folded_name() -> dict[str, str]:
    # Only when a name is not found as written (0.2 s to list the database).
    return {name.casefold(): name for name in available_timezones()}


def zone_defaults() -> dict[str, str]:
    """EMPLOYEE_TIME_ZONES as a mapping from a casefolded country or site."""
    raw = getattr(settings, "EMPLOYEE_TIME_ZONES", {}) or {}
    return _casefolded(tuple(raw.items()))


@lru_cache(maxsize=8)
def _casefolded(items: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return {key.strip().casefold(): zone for key, zone in items}


def zone_name(*, time_zone: str = "", country: str = "", default: str = "") -> str:
    """The IANA name of the zone of someone with these two fields; ``default``
    (a campaign's zone) before the organisation's when neither says."""
    if zone_known(time_zone) is not None:
        return time_zone
    by_country = zone_defaults().get((country or "").strip().casefold())
    if by_country and zone_known(by_country) is not None:
        return by_country
    if zone_known(default) is not None:
        return default
    return settings.TIME_ZONE


def zone_of(*, time_zone: str = "", country: str = "", default: str = "") -> ZoneInfo:
    """The zone of someone with these two fields (see the module's rules)."""
    return ZoneInfo(zone_name(time_zone=time_zone, country=country, default=default))


def employee_zone(employee: object, *, default: str = "") -> ZoneInfo:
    """The zone of an Employee (or anything with time_zone and country)."""
    return zone_of(
        time_zone=getattr(employee, "time_zone", "") or "",
        country=getattr(employee, "country", "") or "",
        default=default,
    )


def zone_setting_parse(
    raw: str, *, name: str = "EMPLOYEE_TIME_ZONES"
) -> dict[str, str]:
    """``PL=Europe/Warsaw,Lisbon=Europe/Lisbon`` → a mapping; raises
    ValueError naming the bad entry (settings.py turns it into
    ImproperlyConfigured). Pure: settings.py calls it before Django is set up.
    """
    zones: dict[str, str] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        key, sep, zone = (s.strip() for s in item.partition("="))
        if not sep or not key or not zone:
            raise ValueError(
                f"{name}: {item!r} is not COUNTRY_OR_SITE=Area/City "
                "(e.g. PL=Europe/Warsaw)"
            )
        if zone_known(zone) is None:
            raise ValueError(f"{name}: {zone!r} (for {key!r}) is not a known time zone")
        zones[key] = zone
    return zones
