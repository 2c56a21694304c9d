"""Talking to the LDAP server with ldap3 (pure Python: it installs with pip
alone, where python-ldap needs OpenLDAP's headers and a compiler): the
connection (ldap://, ldaps://, StartTLS with a CA file), the bind, and the
whole subtree read with the simple paged results control (RFC 2696), since
servers cap a plain search (Active Directory at 1,000 entries).

Anything that keeps the list from being complete — the server unreachable, a
refused bind, a TLS failure, a page that ends in an error or past a size
limit — raises ``DirectoryUnavailable``: the sync then writes nothing and
deactivates nobody.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import ldap3
from django.conf import settings
from django.utils.translation import gettext as _
from ldap3.core.exceptions import (
    LDAPException,
    LDAPInvalidDnError,
    LDAPInvalidDNSyntaxResult,
    LDAPNoSuchObjectResult,
    LDAPOperationResult,
)

PAGED_RESULTS = "1.2.840.113556.1.4.319"
# Bytes read from the socket at a time. ldap3 reads 4 KiB, a few entries,
# then decodes them before reading on; 64 KiB takes a page in far fewer
# reads (a third less time for a paged search here, bench/bench_ldap.py).
RECEIVE_BUFFER = 64 * 1024


class DirectoryUnavailable(Exception):
    """The directory could not be read completely; nothing may be written."""


@dataclass(frozen=True)
class LdapConfig:
    url: str
    start_tls: bool
    ca_file: str
    bind_dn: str
    bind_password: str
    base_dn: str
    filter: str
    attributes: dict[str, tuple[str, ...]]
    page_size: int
    timeout: float

    @classmethod
    def from_settings(cls) -> LdapConfig:
        return cls(
            url=settings.DIRECTORY_LDAP_URL,
            start_tls=settings.DIRECTORY_LDAP_START_TLS,
            ca_file=settings.DIRECTORY_LDAP_CA_FILE,
            bind_dn=settings.DIRECTORY_LDAP_BIND_DN,
            bind_password=settings.DIRECTORY_LDAP_BIND_PASSWORD,
            base_dn=settings.DIRECTORY_LDAP_BASE_DN,
            filter=settings.DIRECTORY_LDAP_FILTER,
            attributes=settings.DIRECTORY_LDAP_ATTRIBUTES,
            page_size=settings.DIRECTORY_LDAP_PAGE_SIZE,
            timeout=settings.DIRECTORY_LDAP_TIMEOUT,
        )

    @property
    def described(self) -> str:
        """What the run records as its "file": server and base."""
        return f"{self.url} {self.base_dn}".strip()


# An entry: its DN, and its attributes by lower-cased name (text values).
Entry = tuple[str, dict[str, list[str]]]


def _server(config: LdapConfig) -> ldap3.Server:
    tls = None
    if config.start_tls or config.url.lower().startswith("ldaps://"):
        tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED, ca_certs_file=config.ca_file or None
        )
    return ldap3.Server(
        config.url, tls=tls, get_info=ldap3.NONE, connect_timeout=config.timeout
    )


def _reason(exc: Exception) -> str:
    """What the server answered (``invalidCredentials``, with its diagnostic
    message when it gave one), or the socket or TLS error."""
    description = getattr(exc, "description", None)
    if isinstance(exc, LDAPOperationResult) and description:
        message = (getattr(exc, "message", None) or "").strip()
        return f"{description} ({message})" if message else str(description)
    return str(exc) or exc.__class__.__name__


@contextmanager
def directory_connection(config: LdapConfig) -> Iterator[ldap3.Connection]:
    """An open, bound, read-only connection (anonymous without a bind DN)."""
    if not config.url:
        raise DirectoryUnavailable(_("DIRECTORY_LDAP_URL is not set."))
    connection = ldap3.Connection(
        _server(config),
        user=config.bind_dn or None,
        password=config.bind_password or None,
        auto_bind=ldap3.AUTO_BIND_NONE,
        read_only=True,
        raise_exceptions=True,
        # Whole seconds: ldap3 packs it into the socket option as an integer.
        receive_timeout=max(1, math.ceil(config.timeout)),
        auto_referrals=False,
        return_empty_attributes=False,
        check_names=False,  # no schema is read (get_info=NONE)
    )
    connection.strategy.socket_size = RECEIVE_BUFFER
    connection.strategy.decode_response_fast = _entry_decoder(connection.strategy)
    try:
        connection.open()
        if config.start_tls:
            connection.start_tls()
    except LDAPException as exc:
        raise DirectoryUnavailable(
            _("Cannot reach %(url)s: %(reason)s")
            % {"url": config.url, "reason": _reason(exc)}
        ) from None
    try:
        try:
            connection.bind()
        except LDAPException as exc:
            raise DirectoryUnavailable(
                _("The bind as %(dn)s was refused: %(reason)s")
                % {"dn": config.bind_dn or "anonymous", "reason": _reason(exc)}
            ) from None
        yield connection
    finally:
        try:
            connection.unbind()
        except LDAPException:
            pass  # closing a connection that already broke


def _text(value: bytes) -> str:
    """A value as text: UTF-8 as LDAP says, else Latin-1 (as ldap3 does; AD
    may hold the odd value that is not UTF-8), never an error."""
    try:
        return str(value, "utf-8")
    except UnicodeDecodeError:
        return str(value, "latin-1")


def _entry_decoder(strategy: Any) -> Callable[[dict], dict]:
    """ldap3's decoding of a search entry, cut to what the sync reads.

    ldap3 turns each entry into raw and formatted attribute dicts, through a
    configuration lookup per value and a case-insensitive dict: three
    quarters of its time on a large search, more than the server's. This
    decodes the same BER tuple (ldap3's fast decoder, unchanged since 2.6;
    ldap3 is pinned) into the DN and the values as text, by lower-cased
    name; any other message goes to ldap3's own decoder."""
    standard = strategy.decode_response_fast

    def decode(message: dict) -> dict:
        if message["protocolOp"] != 4:  # not a searchResEntry
            return standard(message)
        payload = message["payload"]
        attributes = {}
        for attribute in payload[1][3]:
            values = attribute[3][1][3]
            if values:
                name = _text(attribute[3][0][3]).lower()
                attributes[name] = [_text(value[3]) for value in values]
        return {
            "type": "searchResEntry",
            "dn": _text(payload[0][3]),
            "attributes": attributes,
        }

    return decode


def search_entries(
    connection: ldap3.Connection,
    config: LdapConfig,
    attributes: Sequence[str],
    progress: Callable[[int], None] | None = None,
) -> list[Entry]:
    """Every entry under the base DN that the filter selects, page by page;
    raises DirectoryUnavailable unless the server said the search is done.
    ``progress`` hears the number of entries read after each page."""
    entries: list[Entry] = []
    cookie: bytes | None = None
    while True:
        try:
            connection.search(
                config.base_dn,
                config.filter,
                search_scope=ldap3.SUBTREE,
                attributes=list(attributes),
                paged_size=config.page_size,
                paged_cookie=cookie,
            )
        except LDAPException as exc:
            raise DirectoryUnavailable(
                _(
                    "The search under “%(base)s” failed after %(count)s entries; "
                    "nothing was written: %(reason)s"
                )
                % {
                    "base": config.base_dn,
                    "count": len(entries),
                    "reason": _reason(exc),
                }
            ) from None
        result = connection.result
        for response in connection.response:
            if response["type"] == "searchResEntry":
                entries.append((response["dn"], response["attributes"]))
        if result["result"] != 0:
            # ldap3 does not raise on sizeLimitExceeded: a server that
            # ignored the paging control stopped at its limit.
            raise DirectoryUnavailable(
                _(
                    "The search under “%(base)s” stopped after %(count)s entries; "
                    "nothing was written: %(reason)s"
                )
                % {
                    "base": config.base_dn,
                    "count": len(entries),
                    "reason": f"{result['description']} {result['message']}".strip(),
                }
            )
        if progress is not None:
            progress(len(entries))
        control = (result.get("controls") or {}).get(PAGED_RESULTS)
        cookie = control["value"]["cookie"] if control else None
        if not cookie:
            return entries


def entry_read(
    connection: ldap3.Connection, dn: str, attributes: Sequence[str]
) -> dict[str, list[str]] | None:
    """One entry by its DN (a manager outside the search), None if absent."""
    try:
        connection.search(
            dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=list(attributes)
        )
    except (LDAPNoSuchObjectResult, LDAPInvalidDnError, LDAPInvalidDNSyntaxResult):
        return None  # the import then warns that the manager is not an address
    except LDAPException as exc:
        raise DirectoryUnavailable(
            _("Reading “%(dn)s” failed: %(reason)s")
            % {"dn": dn, "reason": _reason(exc)}
        ) from None
    for response in connection.response:
        if response["type"] == "searchResEntry":
            return response["attributes"]
    return None
