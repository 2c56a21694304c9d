"""LDAP entries turned into the staff import's records: each field from the
first attribute of its list an entry carries (``attributes.py``), the
language through ``common.languages.match_language``, and ``manager``, a DN,
resolved to the manager's address.

A field none of the entries carries is left out of the import, so it stays
as the directory has it (a map pointing at an attribute this server does not
use must not empty everybody's department); a field some entries carry is
emptied on the others, as an empty cell of a staff file would be.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings

from common.languages import match_language
from directory.ldap.client import Entry
from employees.importing.records import SourceRecord

# Managers outside the search result read one by one, at most this many
# (beyond, their DN is passed on and the import warns "not an address").
MAX_MANAGER_LOOKUPS = 1000

# A comma that separates two RDNs (not one escaped inside a value).
_RDN_SEPARATOR = re.compile(r"(?<!\\),")

ManagerLookup = Callable[[str], dict[str, list[str]] | None]


def requested_attributes(attributes: dict[str, tuple[str, ...]]) -> list[str]:
    """Every attribute the search asks for, once each."""
    return list(dict.fromkeys(name for names in attributes.values() for name in names))


def _dn_key(dn: str) -> str:
    """A DN compared as LDAP compares it, case and spaces around "," and "="
    aside; only for DNs written differently from the entry's own. Split by
    hand: ldap3's parse_dn refuses the spaces after commas that people type
    (RFC 4514 allows them in older DNs, and servers accept them)."""
    parts = _RDN_SEPARATOR.split(dn.strip())
    return ",".join(
        "=".join(side.strip() for side in part.split("=", 1)).lower() for part in parts
    )


def _language(raw: str, allowed: list[str]) -> str:
    """``preferredLanguage`` is an Accept-Language value ("fr-FR, en;q=0.8"):
    its first tag, matched to a configured language; anything else is given
    to the import as written, which warns that it is not supported."""
    first = raw.split(",")[0].split(";")[0].strip()
    return match_language(first, allowed) or raw


class _Mapper:
    def __init__(
        self,
        attributes: dict[str, tuple[str, ...]],
        lookup: ManagerLookup | None,
    ) -> None:
        self.fields = [
            (name, tuple(a.lower() for a in names))
            for name, names in attributes.items()
            if names and name != "manager"
        ]
        self.manager = tuple(a.lower() for a in attributes.get("manager", ()))
        self.email = tuple(a.lower() for a in attributes["email"])
        self.attributes = attributes
        self.lookup = lookup
        self.lookups = 0
        self.allowed = [code for code, _name in settings.LANGUAGES]
        # A directory holds a handful of distinct language values.
        self.languages: dict[str, str] = {}
        # field → the attribute that fed it first (named in the issues).
        self.labels: dict[str, str] = {}
        self.mail_by_dn: dict[str, str] = {}
        self.mail_by_key: dict[str, str] | None = None

    def _first(self, entry: dict[str, list[str]], names: tuple[str, ...]) -> str | None:
        for name in names:
            values = entry.get(name)
            if values:
                return values[0]
        return None

    def _label(self, field: str, entry: dict[str, list[str]]) -> None:
        if field in self.labels:
            return
        for name in self.attributes[field]:
            if entry.get(name.lower()):
                self.labels[field] = name
                return

    def record(self, dn: str, entry: dict[str, list[str]]) -> SourceRecord:
        values = {}
        for field, names in self.fields:
            value = self._first(entry, names)
            if value is None:
                continue
            if field not in self.labels:
                self._label(field, entry)
            if field == "language":
                code = self.languages.get(value)
                if code is None:
                    code = self.languages[value] = _language(value, self.allowed)
                value = code
            values[field] = value
        return SourceRecord(ref=dn, values=values)

    def manager_address(self, dn: str) -> str:
        """The manager's address, else their DN (the import then warns)."""
        mail = self.mail_by_dn.get(dn.lower())
        if mail is None:
            if self.mail_by_key is None:
                self.mail_by_key = {
                    _dn_key(key): value for key, value in self.mail_by_dn.items()
                }
            mail = self.mail_by_key.get(_dn_key(dn))
        if mail is None and self.lookup and self.lookups < MAX_MANAGER_LOOKUPS:
            self.lookups += 1
            entry = self.lookup(dn)
            mail = self._first(entry, self.email) if entry else None
            self.mail_by_dn[dn.lower()] = mail or dn
            self.mail_by_key = None
        # Not an address: the import warns and leaves the manager as it is
        # (cut to the field's length, or it would refuse the whole row).
        return mail or dn[:254]


def entries_records(
    entries: list[Entry],
    attributes: dict[str, tuple[str, ...]],
    lookup: ManagerLookup | None = None,
) -> tuple[list[SourceRecord], list[str], dict[str, str]]:
    """(records, the fields some entry carries, field → attribute name)."""
    mapper = _Mapper(attributes, lookup)
    records = [mapper.record(dn, entry) for dn, entry in entries]
    for (dn, _entry), record in zip(entries, records, strict=True):
        mail = record.values.get("email")
        if mail:
            mapper.mail_by_dn[dn.lower()] = mail
    if mapper.manager:
        for (_dn, entry), record in zip(entries, records, strict=True):
            manager_dn = mapper._first(entry, mapper.manager)
            if manager_dn is not None:
                mapper.labels.setdefault("manager", attributes["manager"][0])
            record.values["manager"] = (
                mapper.manager_address(manager_dn) if manager_dn else ""
            )
    columns = [name for name in attributes if name in mapper.labels or name == "email"]
    return records, columns, mapper.labels
