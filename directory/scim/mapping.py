"""A SCIM User, as Entra ID and Okta really send it, read into an employee's
fields (README: "What each SCIM attribute maps to").

Read leniently, on purpose: booleans as "False", attribute names in any case,
enterprise attributes by full URN, a whole resource or a path-less PATCH
value. Two steps: ``collect`` gathers the SCIM values a body or operation
carries under logical names; ``resolve`` turns them into the employee's
fields with the same rules as the staff file (a usable address or 400, the
HR id, the configured languages with a warning for the others).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from common.languages import match_language
from directory.models import ScimUser
from directory.scim import paths
from directory.scim.errors import ScimError, invalid_value
from employees.importing.validating import address_normalise
from employees.models import Employee
from employees.timezones import zone_spelled

_BASE_TABLE: dict[tuple[str, str, str | None], str] = {
    ("core", "username", None): "user_name",
    ("core", "emails", "value"): "email",
    ("core", "externalid", None): "external_id",
    ("enterprise", "employeenumber", None): "employee_number",
    ("core", "name", "givenname"): "first_name",
    ("core", "name", "familyname"): "last_name",
    ("enterprise", "department", None): "department",
    ("core", "preferredlanguage", None): "preferred_language",
    ("core", "locale", None): "locale",
    ("enterprise", "manager", "value"): "manager",
    ("enterprise", "manager", None): "manager",
    ("core", "timezone", None): "time_zone",
    ("core", "active", None): "active",
}
MULTI_VALUED = {("core", "emails"), ("core", "addresses")}
# The one item of emails / addresses an employee has: their work address.
_OURS = {"type": "work", "primary": True}
_TEXT_FIELDS = ("first_name", "last_name", "department", "country")


@functools.cache
def _country_path(raw: str) -> paths.Path:
    return paths.parse(raw)


def table() -> dict[tuple[str, str, str | None], str]:
    """SCIM attribute → logical name, with the configured country attribute."""
    country = _country_path(settings.SCIM_COUNTRY_ATTRIBUTE)
    return {**_BASE_TABLE, country.key: "country"}


def _pick(items: list) -> dict | None:
    dicts = [item for item in items if isinstance(item, dict)]
    for wanted in ({"primary": True}, {"type": "work"}):
        for item in dicts:
            if all(_loose(item.get(k)) == v for k, v in wanted.items()):
                return item
    return dicts[0] if dicts else None


def _loose(value: Any) -> Any:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value.lower() if isinstance(value, str) else value


def _child(parent: paths.Path | None, key: str) -> paths.Path | None:
    """The path of a key inside a body or value object (unknown shapes: None)."""
    try:
        path = paths.parse(key)
    except ScimError:
        return None
    if parent is not None and not key.lower().startswith("urn:"):
        path = paths.Path(parent.schema, path.attr, path.sub, path.filter)
    return path


def _assign_object(out: dict, parent: paths.Path | None, value: dict) -> None:
    for key, item in value.items():
        child = _child(parent, key) if isinstance(key, str) else None
        if child is not None:
            assign(out, child, item)


def _assign_multi(out: dict, path: paths.Path, value: Any) -> None:
    names = {n for k, n in table().items() if k[:2] == (path.schema, path.attr)}
    if value is None:
        out.update(dict.fromkeys(names))
        return
    items = value if isinstance(value, list) else [value]
    item = items[0] if path.filter is not None and items else _pick(items)
    if isinstance(item, dict):
        for key, sub_value in item.items():
            name = table().get((path.schema, path.attr, str(key).lower()))
            if name:
                out[name] = sub_value


def assign(out: dict, path: paths.Path, value: Any) -> None:
    """Record in ``out`` what setting ``path`` to ``value`` means (None:
    removed). Attributes we do not keep (title, phoneNumbers...) are ignored."""
    if path.attr and path.schema == "core" and path.attr.startswith("urn:"):
        return
    if path.filter is not None and not paths.selects(path, _OURS):
        return  # a home address, a secondary e-mail: not the employee's
    if value is None and path.sub is None:  # removed: all it holds
        for key, name in table().items():
            if key[0] == path.schema and (not path.attr or key[1] == path.attr):
                out[name] = None
        return
    if not path.attr:  # a whole schema: its attributes are in the value
        if isinstance(value, dict):
            _assign_object(out, paths.Path(path.schema, ""), value)
        return
    if (path.schema, path.attr) in MULTI_VALUED and path.sub is None:
        _assign_multi(out, path, value)
        return
    if path.sub is None and isinstance(value, dict):
        for key, sub_value in value.items():
            assign(out, path.with_sub(str(key)), sub_value)
        return
    if isinstance(value, list) and path.key[:2] == ("enterprise", "manager"):
        value = value[0] if value else None  # [{"value": id}]
        if isinstance(value, dict):
            value = value.get("value")
    name = table().get(path.key)
    if name:
        out[name] = value


def collect(body: dict) -> dict:
    """The logical values a whole SCIM User (POST, PUT) carries."""
    out: dict = {}
    _assign_object(out, None, body)
    return out


@dataclass
class Resolved:
    employee: dict = field(default_factory=dict)
    scim: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _text(values: dict, name: str, limit: int) -> str:
    value = values.get(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise invalid_value(f"{name}: a string is expected.")
    value = str(value).strip()
    if len(value) > limit:
        raise invalid_value(f"{name}: at most {limit} characters.")
    return value


def _usable(address: Any) -> str | None:
    if not isinstance(address, str):
        return None
    address = address.strip()
    try:
        validate_email(address)
    except ValidationError:
        return None
    # Stored as the staff import stores it: the domain lower-cased.
    return address_normalise(address) if len(address) <= 254 else None


def _active(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"  # Entra ID sends "False"
    raise invalid_value("active: true or false is expected.")


def _limit(name: str) -> int:
    return Employee._meta.get_field(name).max_length or 150


def _email(values: dict, current: Employee | None, scim: ScimUser | None) -> str:
    given = values.get("email")
    if current is not None and given is not None and _usable(given) is None:
        raise invalid_value(f"emails: {given!r} is not a usable e-mail address.")
    if current is None or "email" in values:
        email = _usable(given) or _usable(values.get("user_name"))
        if email is None and current is not None and "user_name" not in values:
            email = _usable(scim.user_name if scim else current.email)
        if email is None:
            raise invalid_value(
                "No usable e-mail address: give a work or primary emails value,"
                " or a userName that is an address."
            )
        return email
    followed = scim is None or scim.user_name.lower() == current.email.lower()
    if "user_name" in values and followed:
        # The address came from userName: it follows a new userName.
        return _usable(values.get("user_name")) or current.email
    return current.email


def _hr_id(values: dict, current: Employee | None, scim: ScimUser | None) -> str:
    limit = _limit("hr_id")
    number = _text(values, "employee_number", limit)
    external = _text(values, "external_id", limit)
    if "employee_number" in values:
        return number or external
    if "external_id" in values:
        came_from_external = (
            current is None
            or not current.hr_id
            or (scim is not None and scim.external_id == current.hr_id)
        )
        if came_from_external:
            return external  # removing externalId removes the HR id it gave
    return current.hr_id if current is not None else ""


def _language(values: dict, warnings: list[str]) -> str:
    raw = values.get("preferred_language") or values.get("locale") or ""
    allowed = [code for code, _name in settings.LANGUAGES]
    code = match_language(str(raw), allowed) if raw else None
    if code is None:
        if raw:
            warnings.append(
                f"Language {raw!r} is not offered; {settings.LANGUAGE_CODE} is used."
            )
        return settings.LANGUAGE_CODE
    return code


def _time_zone(values: dict, warnings: list[str]) -> str:
    """The IANA name, read as the staff file and the admin read it
    ("europe/warsaw" is Europe/Warsaw: employees.timezones.zone_spelled)."""
    raw = _text(values, "time_zone", 64)
    if not raw:
        return ""
    zone = zone_spelled(raw)
    if zone is None:
        warnings.append(f"Unknown time zone {raw!r}; the organisation's is used.")
        return ""
    return zone


def _manager(values: dict, current: Employee | None, warnings: list[str]) -> int | None:
    raw = values.get("manager")
    if isinstance(raw, dict):
        raw = raw.get("value")
    if raw in (None, ""):
        return None
    manager_id = int(raw) if str(raw).isdigit() else None
    if manager_id is not None and current is not None and manager_id == current.pk:
        manager_id = None
    if manager_id is None or not Employee.objects.filter(pk=manager_id).exists():
        warnings.append(f"Manager {raw!r} is not a known user id; none is set.")
        return None
    return manager_id


def resolve(
    values: dict, current: Employee | None, scim: ScimUser | None, *, full: bool
) -> Resolved:
    """The employee's new field values. ``full``: a whole resource (POST, PUT),
    so the mapped attributes it leaves out are cleared; otherwise (PATCH)
    only those the operations name change. The HR id, the match key, is
    never cleared by its absence."""
    out = Resolved()
    fields = out.employee
    fields["email"] = _email(values, current, scim)
    fields["hr_id"] = _hr_id(values, current, scim)
    user_name = values.get("user_name")
    if "user_name" in values or current is None or scim is None:
        if user_name is not None and not isinstance(user_name, str):
            raise invalid_value("userName: a string is expected.")
        user_name = (user_name or "").strip() or fields["email"]
        if len(user_name) > 254:
            raise invalid_value("userName: at most 254 characters.")
        out.scim["user_name"] = user_name
    if full or "external_id" in values:
        out.scim["external_id"] = _text(values, "external_id", 254)
    for name in _TEXT_FIELDS:
        if full or name in values:
            fields[name] = _text(values, name, _limit(name))
    if full or "preferred_language" in values or "locale" in values:
        fields["language"] = _language(values, out.warnings)
    if full or "time_zone" in values:
        fields["time_zone"] = _time_zone(values, out.warnings)
    if full or "manager" in values:
        fields["manager_id"] = _manager(values, current, out.warnings)
    if "active" in values:
        fields["is_active"] = _active(values["active"])
    elif current is None:
        fields["is_active"] = True
    return out
