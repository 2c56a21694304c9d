"""Which LDAP attributes feed which field of an employee: the defaults, which
fit both OpenLDAP's inetOrgPerson and Active Directory, and
``DIRECTORY_LDAP_ATTRIBUTES`` read over them.

Each field takes the first attribute of its list that an entry carries, so
one map serves both kinds of server: an AD user has ``department`` and
``employeeID``, an inetOrgPerson ``departmentNumber`` and ``employeeNumber``.
No Django here: ``config/settings.py`` parses the setting at start-up, so a
typo stops the start with the variable's name.
"""

from __future__ import annotations

import re

# field of the staff import → LDAP attributes, the first one present wins.
DEFAULT_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "email": ("mail",),
    "first_name": ("givenName",),
    "last_name": ("sn",),
    "department": ("department", "departmentNumber"),
    # "co" is AD's country name, "c" the ISO code both kinds have, "l" the
    # locality (the site) of an inetOrgPerson.
    "country": ("co", "c", "l"),
    "hr_id": ("employeeNumber", "employeeID"),
    "language": ("preferredLanguage",),
    "manager": ("manager",),
    # No standard attribute: set e.g. "time_zone=extensionAttribute5".
    "time_zone": (),
}

_ATTRIBUTE = re.compile(r"[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+")


def attribute_map(raw: str) -> dict[str, tuple[str, ...]]:
    """The defaults with the fields ``raw`` names replaced:
    ``"hr_id=employeeID;country=c,l;language="`` (an empty list turns a
    field off). Raises ValueError on an unknown field or a bad name."""
    result = dict(DEFAULT_ATTRIBUTES)
    for part in re.split(r"[;\n]", raw):
        part = part.strip()
        if not part:
            continue
        field, equals, value = part.partition("=")
        field = field.strip()
        if not equals or field not in DEFAULT_ATTRIBUTES:
            raise ValueError(
                f"{part!r}: expected FIELD=attribute[,attribute], FIELD one of "
                + ", ".join(DEFAULT_ATTRIBUTES)
            )
        names = tuple(name.strip() for name in value.split(",") if name.strip())
        for name in names:
            if not _ATTRIBUTE.fullmatch(name):
                raise ValueError(f"{name!r} is not an LDAP attribute name")
        if field == "email" and not names:
            raise ValueError("the email field needs an attribute")
        result[field] = names
    return result
