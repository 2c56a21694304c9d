"""SCIM attribute paths (RFC 7644 §3.5.2 ``PATH``), as PATCH operations and
the SCIM_COUNTRY_ATTRIBUTE setting give them.

``name.givenName``, ``emails[type eq "work"].value``,
``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department``,
``urn:…:enterprise:2.0:User:manager.value``. Names are case-insensitive
(RFC 7643 §2.1), so a Path holds them lower-cased. Hand-written: the PATH
rule is one line of grammar, and scim2-filter-parser parses filters, not
paths (django-scim2 appends ``eq ""`` to a path to borrow it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from directory.scim.errors import ScimError

CORE = "urn:ietf:params:scim:schemas:core:2.0:user"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user"
SCHEMAS = {"": "core", CORE: "core", ENTERPRISE: "enterprise"}

_ATTR = r"[A-Za-z][\w$-]*"
_PATH = re.compile(
    rf"^(?:(?P<urn>urn:[^\[\]]*):)?(?P<attr>{_ATTR})"
    rf"(?:\[(?P<filter>[^\]]*)\])?(?:\.(?P<sub>{_ATTR}))?$"
)
# The value filters the writers understand: ``type eq "work"``,
# ``primary eq true``, joined by ``and``.
_CONDITION = re.compile(
    r'^\s*(?P<attr>\w+)\s+eq\s+(?:"(?P<text>[^"]*)"|(?P<word>true|false))\s*$', re.I
)


@dataclass(frozen=True)
class Path:
    schema: str  # "core", "enterprise", or another URN (ignored by the writers)
    attr: str
    sub: str | None = None
    filter: tuple[tuple[str, str | bool], ...] | None = None

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.schema, self.attr, self.sub)

    def with_sub(self, sub: str) -> Path:
        return Path(self.schema, self.attr, sub.lower(), self.filter)


def _conditions(text: str, raw: str) -> tuple[tuple[str, str | bool], ...]:
    found = []
    for part in re.split(r"\s+and\s+", text, flags=re.I):
        match = _CONDITION.match(part)
        if match is None:
            raise ScimError(
                400, f"Unsupported value filter in path {raw!r}.", "invalidPath"
            )
        word = match["word"]
        value: str | bool = word.lower() == "true" if word else match["text"]
        found.append((match["attr"].lower(), value))
    return tuple(found)


def parse(raw: str) -> Path:
    """The Path that ``raw`` names, or a 400 invalidPath."""
    text = raw.strip()
    lowered = text.lower()
    # A whole schema as the path: its attributes are in the value.
    if lowered in (CORE, ENTERPRISE):
        return Path(SCHEMAS[lowered], "")
    match = _PATH.match(text)
    if match is None:
        raise ScimError(400, f"Invalid attribute path {raw!r}.", "invalidPath")
    urn = (match["urn"] or "").lower()
    sub = match["sub"].lower() if match["sub"] else None
    conditions = _conditions(match["filter"], raw) if match["filter"] else None
    return Path(SCHEMAS.get(urn, urn), match["attr"].lower(), sub, conditions)


def selects(path: Path, item: dict) -> bool:
    """Whether a value filter selects ``item`` of a multi-valued attribute."""
    for attr, wanted in path.filter or ():
        have = item.get(attr)
        if isinstance(wanted, bool):
            if have is not wanted:
                return False
        elif str(have or "").lower() != wanted.lower():
            return False
    return True
