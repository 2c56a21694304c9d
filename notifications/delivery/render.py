"""Rendering: each person's message, and the bytes and MIME object that carry it.

A chunk's messages differ only in the person's name, link and address (and
the deadline's wall-clock time, per zone), so a message is rendered once per
(content version, kind, time zone) with markers in those places and filled in per person (_Renderer); over SMTP the bytes too are
built once and filled (rawmail.py). What the per-message MIME object still
costs, _CampaignEmail pays once per subject or header. _Outgoing is one
message ready to go: its row, its address, its text and how it was rendered.

Rendering only: nothing here records an outcome or talks to a mail server.
"""

from __future__ import annotations

import dataclasses
import random
import sys
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from email.policy import Compat32
from functools import cache, lru_cache
from html import escape as html_escape
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import forbid_multi_line_headers
from django.utils import timezone
from django.utils.html import escape

from notifications.campaigns import content as content_mod
from notifications.delivery import rawmail
from notifications.models import Campaign, CampaignContent, Delivery

# Markers standing for per-recipient values while a message is rendered once
# per (content version, kind); letters and digits only, so escaping, line
# breaking and whitespace folding leave them intact.
_MARKS = {
    "first_name": "Zq7FirstNameMark7qZ",
    "last_name": "Zq7LastNameMark7qZ",
    "token": "Zq7TokenMark7qZ",
}

# How every mark above starts.
_MARK_START = "Zq7"

# The same for what differs from one time zone to another.
_ZONE_MARKS = {"deadline": "Zq7DeadlineMark7qZ", "days_left": "Zq7DaysLeftMark7qZ"}


@dataclass
class _Outgoing:
    row: Delivery
    to: str
    message: content_mod.RenderedMessage
    # Set when the message was filled from a prototype (the SMTP fast path).
    renderer: _Renderer | None = None
    prototype: tuple | None = None
    values: dict[str, str] | None = None


class _Renderer:
    """Campaign messages rendered once per content version and kind.

    Rendering three Django templates per message would cost more than
    sending it; the result is identical (tests/notifications/delivery/test_sending.py proves it
    against content.message_render), since the per-person values are only
    ever substituted or HTML-escaped.
    """

    def __init__(self, *, campaign: Campaign, kind: str, now: datetime) -> None:
        self.campaign, self.kind, self.now = campaign, kind, now
        self._prototypes = _PROTOTYPES
        self._keys: dict[tuple, tuple] = {}  # this chunk's keys, built once
        self._raw = _RAW
        # Everything a prototype depends on besides the content, the zone and
        # which names are set: the campaign's rendered fields, the settings
        # that go into links and headers. A key, not a trust in updated_at.
        self._base = (
            campaign.pk,
            getattr(campaign, "created_at", None),
            campaign.deadline,
            campaign.reference,
            campaign.dpo_contact,
            campaign.from_email,
            campaign.reply_to,
            campaign.time_zone,
            kind,
            settings.SITE_URL,
            getattr(settings, "EMAIL_FROM_NAME", ""),
            settings.DEFAULT_FROM_EMAIL,
        )

    def _exact(
        self,
        content: CampaignContent,
        first: str,
        last: str,
        token: str,
        tz: ZoneInfo | None,
    ) -> content_mod.RenderedMessage:
        return content_mod.message_render(
            campaign=self.campaign,
            content=content,
            kind=self.kind,
            first_name=first,
            last_name=last,
            token=token,
            now=self.now,
            tz=tz,
        )

    def render(
        self,
        content: CampaignContent,
        *,
        first: str,
        last: str,
        token: str,
        tz: ZoneInfo | None = None,
    ) -> content_mod.RenderedMessage:
        return self.render_keyed(content, first=first, last=last, token=token, tz=tz)[0]

    def render_keyed(
        self,
        content: CampaignContent,
        *,
        first: str,
        last: str,
        token: str,
        tz: ZoneInfo | None = None,
    ) -> tuple[content_mod.RenderedMessage, tuple | None, dict[str, str]]:
        """The message, the key of the prototype it was filled from (None
        when rendered exactly), and the values filled in. ``tz`` is the
        person's zone (their deadline's wall-clock time): one prototype per
        content version and zone, never one per person."""
        values = {"first_name": first, "last_name": last, "token": token}
        # Every mark starts with _MARK_START: one search of the three values
        # (joined by a character no mark holds) rules most people out.
        joined = f"{first}\0{last}\0{token}"
        if ("\r" in joined or "\n" in joined or _MARK_START in joined) and any(
            "\r" in v or "\n" in v or any(m in v for m in _MARKS.values())
            for v in values.values()
        ):
            return self._exact(content, first, last, token, tz), None, values
        zone = tz or ZoneInfo(self.campaign.time_zone)
        local = (content.pk, zone.key, bool(first), bool(last))
        key = self._keys.get(local)
        if key is None:
            days = content_mod.days_left(self.campaign.deadline, tz=zone, now=self.now)
            fields = tuple(getattr(content, f) for f in content_mod.CONTENT_FIELDS)
            fields = (content.language, content.sha256, *fields)
            key = (*self._base, content.pk, fields, *local[1:], days)
            self._keys[local] = key
        proto = self._prototypes.get(key)
        if proto is None:
            proto = _Prototype.of(
                self._zoned(content, key[-5], zone, key[-1], first, last)
            )
            _remember(self._prototypes, key, proto)
        # html.escape is what Django's escape() does, minus its lazy-string
        # and SafeString wrapping (three times a message).
        escaped = {name: html_escape(value) for name, value in values.items()}
        message = content_mod.RenderedMessage(
            proto.message.language,
            " ".join(proto.subject.fill(values).split()),
            proto.text.fill(values),
            proto.html.fill(escaped),
            content=content,
            sha256=proto.message.sha256,
        )
        return message, key, values

    def _zoned(
        self,
        content: CampaignContent,
        fields: tuple,
        zone: ZoneInfo,
        days: int,
        first: str,
        last: str,
    ) -> content_mod.RenderedMessage:
        """The prototype of one zone: the version's, rendered once with marks
        for the deadline and the days left too, filled with this zone's.
        Rendering the templates for each of 24 languages x 10 zones cost more
        than sending a step's messages; filling marks costs nothing."""
        version = (*self._base, content.pk, fields, bool(first), bool(last))
        marked = _VERSIONS.get(version)
        if marked is None:
            marked = content_mod.message_render(
                campaign=self.campaign,
                content=content,
                kind=self.kind,
                first_name=_MARKS["first_name"] if first else "",
                last_name=_MARKS["last_name"] if last else "",
                token=_MARKS["token"],
                now=self.now,
                marks=_ZONE_MARKS,
            )
            _remember(_VERSIONS, version, marked)
        values = {
            "deadline": content_mod.deadline_display(
                self.campaign.deadline, tz=zone, language=content.language
            ),
            "days_left": str(days),
        }
        return content_mod.RenderedMessage(
            marked.language,
            " ".join(
                _fill(marked.subject, values, html=False, marks=_ZONE_MARKS).split()
            ),
            _fill(marked.body_text, values, html=False, marks=_ZONE_MARKS),
            _fill(marked.body_html, values, html=True, marks=_ZONE_MARKS),
            content=content,
            sha256=marked.sha256,
        )

    def raw(self, out: _Outgoing) -> tuple[str, bytes, str] | None:
        """The quoted envelope sender, the message's bytes and its Message-ID, from
        a byte prototype built once per key (rawmail.py), or None: send it
        through Django."""
        if out.prototype is None:  # rendered exactly: no prototype to fill
            return None
        if out.prototype not in self._raw:
            proto = self._prototypes[out.prototype].message
            html = proto.body_html
            for mark in _MARKS.values():
                html = html.replace(mark, rawmail.html_mark(mark))
            marked = _Outgoing(
                out.row,
                rawmail.TO_MARK,
                dataclasses.replace(proto, body_html=html),
            )
            _remember(
                self._raw,
                out.prototype,
                rawmail.Prototype.build(
                    _email(self.campaign, marked),
                    _MARKS,
                    tz=ZoneInfo(self.campaign.time_zone),
                ),
            )
        proto_bytes = self._raw[out.prototype]
        if proto_bytes is None:
            return None
        filled = proto_bytes.fill(out.values, out.to)
        if filled is None:
            return None
        return proto_bytes.sender, *filled


def locales_load() -> None:
    """Load every configured language's translations and CLDR date data now.

    A worker calls it once as it starts, before its pool forks (tasks.py),
    so that its processes share them: otherwise the first message of each
    language paid for them in every pool process, a third of a second for
    the 24 EU languages (babel's locale data, gettext's catalogues), more
    than sending a chunk of 500. Rendering itself is unchanged.
    """
    now = timezone.now()
    tz = ZoneInfo(settings.TIME_ZONE)
    for code, _name in settings.LANGUAGES:
        content_mod.deadline_display(now, tz=tz, language=code)


# Prototypes kept by the worker process from one chunk to the next: with 24
# languages and 10 time zones a step has 240 of them, and rendering them
# afresh for every chunk of 500 cost more than sending it. Bounded, oldest
# first out; the keys hold everything a prototype depends on (_Renderer).
_VERSIONS: dict[tuple, content_mod.RenderedMessage] = {}
_PROTOTYPES: dict[tuple, _Prototype] = {}
_RAW: dict[tuple, rawmail.Prototype | None] = {}
_KEEP = 2048


def _remember(cache: dict, key: tuple, value: object) -> None:
    cache[key] = value
    if len(cache) > _KEEP:
        del cache[next(iter(cache))]  # dicts keep insertion order


def _fill(
    text: str, values: dict[str, str], *, html: bool, marks: dict[str, str] = _MARKS
) -> str:
    for name, mark in marks.items():
        if mark in text:
            value = values[name]
            text = text.replace(mark, str(escape(value)) if html else value)
    return text


class _Template:
    """A prototype's text cut at its marks: filling it is one join of the
    pieces, instead of a search and a copy of the whole text per mark. The
    same result as _fill, since the values filled in never contain a mark
    (render_keyed renders those exactly)."""

    __slots__ = ("fields", "parts")

    def __init__(self, text: str) -> None:
        pieces: list[tuple[str, str | None]] = [(text, None)]
        for name, mark in _MARKS.items():
            cut: list[tuple[str, str | None]] = []
            for piece, field in pieces:
                if field is not None:
                    cut.append((piece, field))
                    continue
                for i, literal in enumerate(piece.split(mark)):
                    if i:
                        cut.append(("", name))
                    cut.append((literal, None))
            pieces = cut
        self.parts = [piece for piece, _field in pieces]
        self.fields = [(i, field) for i, (_p, field) in enumerate(pieces) if field]

    def fill(self, values: dict[str, str]) -> str:
        parts = self.parts.copy()
        for i, name in self.fields:
            parts[i] = values[name]
        return "".join(parts)


@dataclass(frozen=True)
class _Prototype:
    """A prototype message and its three texts cut at their marks."""

    message: content_mod.RenderedMessage
    subject: _Template
    text: _Template
    html: _Template

    @classmethod
    def of(cls, message: content_mod.RenderedMessage) -> _Prototype:
        return cls(
            message,
            _Template(message.subject),
            _Template(message.body_text),
            _Template(message.body_html),
        )


class _CampaignEmail(content_mod.CampaignEmail):
    """Django's message, minus the costs it pays afresh for every message.

    Profiled over SMTP, building the MIME message cost more CPU than anything
    else in the worker, mostly in work that is identical for every message of
    a chunk:

    - encoding the subject: a French subject is non-ASCII, and the standard
      library's RFC 2047 encoder tries both encodings growing the text one
      character at a time (quadratic). A chunk has one or two subjects, so
      the encoded header is computed once per subject, by Django's own
      function, and set on the message;
    - folding the headers when the message is written: Content-Type, From,
      Subject… come out the same for every message, so their folded bytes
      are remembered (a compat32 policy, Django's, with a cache);
    - the multipart boundary: the generator compiles a new regular expression
      per message to check that its random boundary is absent from the parts.
      We draw the same kind of boundary and check the texts with ``in``
      (stricter than the generator's line match); the rare collision falls
      back to the generator.

    The bytes are otherwise Django's (tests/notifications/delivery/test_sending.py compares them).
    """

    def _subject_value(self, subject: str, encoding: str) -> str:
        # Django's own encoding, remembered per subject: the bytes the tests
        # compare with Django's (_SentEmail sends content's instead).
        return _subject_header(subject, encoding)

    def message(self) -> Message:
        msg = super().message()
        msg.policy = _FOLD_ONCE
        if msg.is_multipart():
            boundary = _boundary()
            texts = [self.body, *(a.content for a in self.alternatives)]
            if not any(boundary in text for text in texts):
                msg.set_boundary(boundary)
        return msg


@lru_cache(maxsize=64)
def _subject_header(subject: str, encoding: str) -> str:
    return forbid_multi_line_headers("Subject", subject, encoding)[1]


class _Compat32FoldOnce(Compat32):
    def fold_binary(self, name: str, value: object) -> bytes:
        if not isinstance(value, str):
            return super().fold_binary(name, value)
        return _folded(self.linesep, self.max_line_length, self.cte_type, name, value)


@lru_cache(maxsize=512)
def _folded(
    linesep: str, max_line_length: int | None, cte_type: str, name: str, value: str
) -> bytes:
    # Everything compat32's folding depends on is in the key.
    return _compat32(linesep, max_line_length, cte_type).fold_binary(name, value)


@cache
def _compat32(linesep: str, max_line_length: int | None, cte_type: str) -> Compat32:
    return Compat32(linesep=linesep, max_line_length=max_line_length, cte_type=cte_type)


_FOLD_ONCE = _Compat32FoldOnce()


def _boundary() -> str:
    # The standard library's format (email.generator.Generator._make_boundary).
    return "=" * 15 + f"{random.randrange(sys.maxsize):019d}" + "=="


class _SentEmail(_CampaignEmail):
    """What we send: content.CampaignEmail's bytes (its Subject folded so that
    it decodes without a leading space) at _CampaignEmail's cost."""

    _subject_value = content_mod.CampaignEmail._subject_value


def _email(campaign: Campaign, out: _Outgoing) -> EmailMultiAlternatives:
    # email_build sets our own Message-ID, on the sender's domain, known
    # before sending: over SMTP it is the only id.
    email = content_mod.email_build(out.message, campaign=campaign, to=out.to)
    email.__class__ = _SentEmail  # the same message; only message() differs
    return email
