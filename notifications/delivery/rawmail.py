"""Campaign messages as bytes, built once per content version (SMTP only).

Profiled over SMTP, Django's EmailMultiAlternatives cost the worker more CPU
than anything else per message: a MIME tree built, header objects parsed and
folded, every address parsed twice (``sanitize_address``), the generator
walking it all. For one chunk everything but the person's name, link,
address, date, Message-ID and MIME boundary is the same, so the message is
built once, by Django, with markers in those places, and each person's bytes
are that prototype with the markers replaced. No library does this: mail
libraries build a message per call.

The bytes are Django's, checked in tests/notifications/delivery/test_rawmail.py against
``message().as_bytes()`` for the same values. Whenever the substitution could
differ from what Django would have produced, ``fill`` returns None and the
caller sends through Django instead:

- the subject holds a personal value (it is RFC 2047-encoded, which depends on
  the value): no prototype at all;
- a part is quoted-printable or base64 (Django chooses QP for lines over 998
  bytes): no prototype;
- a value would push a line over 998 bytes, or holds a line break of any
  kind (Django would then switch that part to QP);
- a part is 7bit and a value is not ASCII (it would become 8bit);
- the address is not a plain ``local@domain`` of safe characters (only those
  come out of ``sanitize_address`` unchanged), or is long enough for its
  header to be folded;
- a value could collide with the MIME boundary.
"""

from __future__ import annotations

import random
import re
import smtplib
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import sanitize_address
from django.utils.html import escape

from notifications.campaigns.content import date_header, message_id_domain

# RFC 5322's hard limit, the one Django's SafeMIMEText checks.
_LINE_LIMIT = 998
# Where the per-message values go in the prototype. Letters and digits only,
# so neither HTML escaping nor header folding touches them.
TO_MARK = "Zq7ToMark7qZ@example.invalid"
_DATE_MARK = "Zq7DateMark7qZ"
_MESSAGE_ID_MARK = "<Zq7MessageIdMark7qZ@example.invalid>"
_BOUNDARY_MARK = "Zq7BoundaryMarkX7qZ"  # 19 characters, as the digits
# Slots whose values never make a line long (headers, boundary lines).
_FIXED_LENGTH = ("to", "date", "message_id", "boundary")
# "To: " and the address on one line of at most 78 characters: a longer one
# is folded onto the next line by the header folding.
_MAX_ADDRESS = 70
# A dot-atom local part and a hostname: what sanitize_address returns as is.
_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)


def html_mark(mark: str) -> str:
    """The marker standing for the HTML-escaped value of ``mark``'s value."""
    return mark.replace("Mark", "Html")


@dataclass(frozen=True)
class Prototype:
    parts: tuple[bytes | str, ...]  # bytes literal, str slot name, bytes, ...
    # What sendmail() puts in MAIL FROM for the address Django's backend
    # passes it (sanitize_address of the From): <address>.
    sender: str
    seven_bit: bool
    # For each line holding a personal value: its length without the markers
    # and how many times each value's slot occurs on it.
    marked_lines: tuple[tuple[int, tuple[tuple[str, int], ...]], ...]
    # The Date's zone (the campaign's) and the Message-ID's domain (the From's).
    tz: tzinfo | None = None
    domain: str = "localhost"

    @classmethod
    def build(
        cls,
        email: EmailMultiAlternatives,
        marks: dict[str, str],
        *,
        tz: tzinfo | None = None,
    ) -> Prototype | None:
        """``email`` rendered with ``marks`` (name → marker) in the text part,
        ``html_mark(marker)`` in the HTML part, and ``TO_MARK`` as its only
        recipient; None when this message cannot be filled safely. Its Date
        is written in ``tz`` (UTC when None)."""
        email.extra_headers["Message-ID"] = _MESSAGE_ID_MARK
        msg = email.message()
        subject = str(msg["Subject"])
        if any(m in subject or html_mark(m) in subject for m in marks.values()):
            return None
        msg.replace_header("Date", _DATE_MARK)
        if msg.is_multipart():
            msg.set_boundary("=" * 15 + _BOUNDARY_MARK + "==")
        data = msg.as_bytes(linesep="\r\n")
        lowered = data.lower()
        if b"quoted-printable" in lowered or b"base64" in lowered:
            return None
        slots = {TO_MARK: "to", _DATE_MARK: "date", _MESSAGE_ID_MARK: "message_id"}
        slots[_BOUNDARY_MARK] = "boundary"
        for name, mark in marks.items():
            slots[mark] = name
            slots[html_mark(mark)] = name + ":html"
        pattern = re.compile(
            b"(" + b"|".join(re.escape(m.encode()) for m in slots) + b")"
        )
        pieces = pattern.split(data)
        parts: list[bytes | str] = [
            slots[p.decode()] if i % 2 else p for i, p in enumerate(pieces)
        ]
        marked = []
        for line in data.split(b"\r\n"):
            found = pattern.findall(line)
            names = [slots[m.decode()] for m in found]
            personal = [n for n in names if n not in _FIXED_LENGTH]
            if personal:
                bare = len(pattern.sub(b"", line))
                counts = tuple((n, personal.count(n)) for n in sorted(set(personal)))
                marked.append((bare, counts))
        encoding = email.encoding or settings.DEFAULT_CHARSET
        return cls(
            parts=tuple(parts),
            sender=smtplib.quoteaddr(sanitize_address(email.from_email, encoding)),
            seven_bit=b"content-transfer-encoding: 7bit" in lowered,
            marked_lines=tuple(marked),
            tz=tz,
            domain=message_id_domain(email.from_email),
        )

    def fill(self, values: dict[str, str], to: str) -> tuple[bytes, str] | None:
        """This person's message and its Message-ID, or None (use Django)."""
        if len(to) > _MAX_ADDRESS or not _PLAIN_ADDRESS.fullmatch(to):
            return None
        encoded: dict[str, bytes] = {}
        for name, value in values.items():
            if value and (value.splitlines() != [value] or "=" * 8 in value):
                return None
            raw = value.encode()
            if self.seven_bit and len(raw) != len(value):
                return None
            encoded[name] = raw
            encoded[name + ":html"] = str(escape(value)).encode()
        for bare, counts in self.marked_lines:
            if bare + sum(len(encoded[n]) * k for n, k in counts) > _LINE_LIMIT:
                return None
        message_id = make_msgid(domain=self.domain)
        encoded["to"] = to.encode()
        encoded["date"] = _date(self.tz).encode()
        encoded["message_id"] = message_id.encode()
        # The standard library's boundary format (Generator._make_boundary).
        encoded["boundary"] = f"{random.randrange(sys.maxsize):019d}".encode()
        data = b"".join(encoded[p] if isinstance(p, str) else p for p in self.parts)
        return data, message_id


_last_date: dict[tzinfo | None, tuple[int, str]] = {}


def _date(tz: tzinfo | None) -> str:
    # What email_build puts in Date, computed once per second and zone.
    second = int(time.time())
    last = _last_date.get(tz)
    if last is None or last[0] != second:
        last = (second, date_header(tz, datetime.fromtimestamp(second, tz=UTC)))
        _last_date[tz] = last
    return last[1]


def sendmail(smtp: smtplib.SMTP, sender: str, to: str, data: bytes) -> None:
    """``smtp.sendmail(envelope_from, [to], data)`` for a message from fill().

    The same commands, replies and exceptions as the standard library's
    sendmail() for one recipient, without parsing both addresses again for
    every message (its quoteaddr() was a tenth of the worker's CPU):
    ``sender`` is Prototype.sender and ``to`` a plain address fill() checked.
    """
    smtp.ehlo_or_helo_if_needed()
    size = f" size={len(data)}" if smtp.does_esmtp and smtp.has_extn("size") else ""
    smtp.putcmd("mail", f"FROM:{sender}{size}")
    code, reply = smtp.getreply()
    if code != 250:
        _abandon(smtp, code)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    smtp.putcmd("rcpt", f"TO:<{to}>")
    code, reply = smtp.getreply()
    if code not in (250, 251):
        _abandon(smtp, code)
        raise smtplib.SMTPRecipientsRefused({to: (code, reply)})
    code, reply = smtp.data(data)
    if code != 250:
        _abandon(smtp, code)
        raise smtplib.SMTPDataError(code, reply)


def _abandon(smtp: smtplib.SMTP, code: int) -> None:
    # As sendmail(): 421 means the server is closing; otherwise reset the
    # transaction so the connection can carry the next message.
    if code == 421:
        smtp.close()
        return
    try:
        smtp.rset()
    except smtplib.SMTPServerDisconnected:
        pass
