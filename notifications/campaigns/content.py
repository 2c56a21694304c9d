"""Message content: placeholders, validation, versions' hashes and rendering.

Campaign texts are written by the DPO in the admin. They are not Django
templates (no tags, no filters, no access to objects): only the placeholders
below are substituted, so a text can neither break at send time nor leak
anything. Unknown placeholders are rejected when saving.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Container
from dataclasses import dataclass
from datetime import datetime, tzinfo
from email.header import Header
from email.message import Message
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel import UnknownLocaleError
from babel.dates import get_timezone_location
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.mail.utils import DNS_NAME
from django.core.validators import validate_email
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.translation import gettext as _

from common import localdates
from notifications.models import Campaign, CampaignContent, StepKind

PLACEHOLDERS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "deadline",
    "days_left",
    "ack_url",
    "reference",
    "dpo_contact",
)
CONTENT_FIELDS: tuple[str, ...] = ("subject", "body_text", "body_html", "page_text")

_PLACEHOLDER_RE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_TEMPLATE_TAG_RE = re.compile(r"\{%|\{#")


@dataclass(frozen=True)
class RenderedMessage:
    language: str
    subject: str
    body_text: str
    body_html: str
    content: CampaignContent | None = None
    sha256: str = ""


def _placeholder_name(raw: str) -> str:
    return raw.strip()


def placeholders_unknown(text: str) -> list[str]:
    """Names between ``{{ }}`` that are not placeholders, in order of use."""
    found = [_placeholder_name(m) for m in _PLACEHOLDER_RE.findall(text)]
    return list(dict.fromkeys(name for name in found if name not in PLACEHOLDERS))


def _field_errors(text: str) -> list[str]:
    errors = []
    unknown = placeholders_unknown(text)
    if unknown:
        errors.append(
            _("Unknown placeholder(s): %(unknown)s. Allowed: %(allowed)s.")
            % {
                "unknown": ", ".join("{{ " + name + " }}" for name in unknown),
                "allowed": ", ".join("{{ " + name + " }}" for name in PLACEHOLDERS),
            }
        )
    if _TEMPLATE_TAG_RE.search(text):
        errors.append(_("Template tags ({% … %}, {# … #}) are not allowed."))
    leftover = _PLACEHOLDER_RE.sub("", text)
    if "{{" in leftover or "}}" in leftover:
        # e.g. "{{ first_name }," would otherwise be sent as typed.
        errors.append(
            _(
                "A placeholder is not closed: write it with two braces on each "
                "side, e.g. {{ first_name }}."
            )
        )
    return errors


# The bodies a person reads the message in: each must carry their link.
_LINK_REQUIRED = ("body_text", "body_html")


def content_errors(fields: dict[str, str]) -> dict[str, list[str]]:
    """Errors per field of one language's content; empty when valid."""
    errors = {name: _field_errors(fields.get(name) or "") for name in CONTENT_FIELDS}
    for name in _LINK_REQUIRED:
        text = fields.get(name) or ""
        if name == "body_html" and not text.strip():
            continue  # generated from the text, link included
        used = {_placeholder_name(m) for m in _PLACEHOLDER_RE.findall(text)}
        if "ack_url" not in used:
            errors[name].append(
                _(
                    "The message must contain the personal link {{ ack_url }}: "
                    "without it, nobody can acknowledge."
                )
            )
    return {name: found for name, found in errors.items() if found}


def content_validate(fields: dict[str, str]) -> None:
    errors = content_errors(fields)
    if errors:
        raise ValidationError(errors)


def content_normalise(fields: dict[str, str]) -> dict[str, str]:
    """The form of a text that is stored and hashed.

    Browsers send CRLF and forms strip outer whitespace: without this, saving
    an unchanged admin page would look like a change and create a version.
    """
    return {
        name: (fields.get(name) or "").replace("\r\n", "\n").strip()
        for name in CONTENT_FIELDS
    }


def content_sha256(*, language: str, fields: dict[str, str]) -> str:
    payload = {"language": language}
    payload.update({name: fields.get(name) or "" for name in CONTENT_FIELDS})
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def message_language(language: str, available: Container[str]) -> str:
    """The language someone's messages are in: their own when the campaign
    has content in it, else the default language. The one rule by which
    e-mails, pages and printed letters choose their text."""
    return language if language in available else settings.LANGUAGE_CODE


def content_in(
    current: dict[str, CampaignContent], language: str
) -> CampaignContent | None:
    """Of the current contents by language, the one for ``language``."""
    return current.get(message_language(language, current))


def content_current(campaign: Campaign, language: str) -> CampaignContent | None:
    """The current content in ``language``, else in the default language."""
    current = {c.language: c for c in campaign.contents.filter(is_current=True)}
    return content_in(current, language)


def ack_url(token: str) -> str:
    return f"{settings.SITE_URL}/a/{token}/"


@lru_cache(maxsize=1024)
def _city(key: str, language: str) -> str:
    """The zone's city as ``language`` writes it ("Londres" in French), from
    the Unicode CLDR through Babel: 24 languages' city names are data, not
    something to translate by hand. The zone id's own city otherwise."""
    try:
        return get_timezone_location(key, locale=language, return_city=True)
    except (LookupError, ValueError, UnknownLocaleError):
        return key.rsplit("/", 1)[-1].replace("_", " ")


def _zone_name(tz: ZoneInfo) -> str:
    key = getattr(tz, "key", "") or "UTC"
    if key in ("UTC", "Etc/UTC", "GMT", "Etc/GMT"):
        return "UTC"
    # "Europe/Paris" → "Paris time": what people say, not the zone's id.
    city = _city(key, translation.get_language() or settings.LANGUAGE_CODE)
    return _("%(city)s time") % {"city": city}


def deadline_display(deadline: datetime, *, tz: ZoneInfo, language: str) -> str:
    """The deadline as people write it in ``language``, in the campaign's zone:
    "14 December 2026, 18:00 (Paris time)", "14 décembre 2026 à 18 h 00
    (heure de Paris)". A deadline at 00:00 is written as 23:59 the day
    before (common/localdates.py), so nobody reads the day as still open."""
    local = localdates.deadline_moment(deadline.astimezone(tz))
    with translation.override(language):
        day = localdates.long_date(local, language)
        hour = _("%(hour)s:%(minute)s") % {
            "hour": f"{local.hour:02d}",
            "minute": f"{local.minute:02d}",
        }
        return _("%(date)s, %(time)s (%(zone)s)") % {
            "date": day,
            "time": hour,
            "zone": _zone_name(tz),
        }


def days_left(deadline: datetime, *, tz: ZoneInfo, now: datetime) -> int:
    return max(0, (deadline.astimezone(tz).date() - now.astimezone(tz).date()).days)


def placeholder_values(
    *,
    campaign: Campaign,
    language: str,
    first_name: str,
    last_name: str,
    token: str,
    now: datetime,
    tz: ZoneInfo | None = None,
) -> dict[str, str]:
    # tz: the recipient's zone (employees.timezones), the campaign's if None.
    tz = tz or ZoneInfo(campaign.time_zone)
    return {
        "first_name": first_name,
        "last_name": last_name,
        "deadline": deadline_display(campaign.deadline, tz=tz, language=language),
        "days_left": str(days_left(campaign.deadline, tz=tz, now=now)),
        "ack_url": ack_url(token),
        "reference": campaign.reference,
        "dpo_contact": campaign.dpo_contact,
    }


def substitute(text: str, values: dict[str, str], *, html: bool = False) -> str:
    def replace(match: re.Match[str]) -> str:
        value = values.get(_placeholder_name(match.group(1)), "")
        return str(escape(value)) if html else value

    return _PLACEHOLDER_RE.sub(replace, text)


_NBSP = "\u00a0"
# French spacing: a space before ; : ! ? » and after « is non-breaking (the
# punctuation never starts a line). Only a space already typed is changed, so
# "https://" and "10:30" stay as they are.
_FR_SPACE_BEFORE = re.compile(r"[ \t]+(?=[;:!?»])")
_FR_SPACE_AFTER = re.compile(r"(?<=«)[ \t]+")
_TAG = re.compile(r"(<style\b.*?</style>|<[^>]*>)", re.DOTALL | re.IGNORECASE)


def typography(text: str, *, language: str, html: bool = False) -> str:
    """``text`` with the spacing its language's typography asks for (French:
    non-breaking spaces); HTML tags are left alone."""
    if language != "fr":
        return text
    if html:
        pieces = _TAG.split(text)
        return "".join(
            p if i % 2 else typography(p, language=language)
            for i, p in enumerate(pieces)
        )
    return _FR_SPACE_AFTER.sub(_NBSP, _FR_SPACE_BEFORE.sub(_NBSP, text))


_STEP_LINE = re.compile(r"^\s*\d{1,2}[.)]\s+(.*)$")
_P = '<p style="margin: 0 0 16px;">'
_BUTTON = (
    '<table role="presentation" border="0" cellspacing="0" cellpadding="0" '
    'style="margin: 8px 0 12px; border-collapse: separate;"><tr>\n'
    '<td align="center" bgcolor="#0b57d0" style="border-radius: 6px; '
    'background-color: #0b57d0;">'
    '<a class="ack-button" href="{url}" target="_blank" style="display: '
    "inline-block; padding: 14px 28px; font-family: Arial, Helvetica, "
    "sans-serif; font-size: 16px; font-weight: bold; line-height: 20px; "
    'color: #ffffff; text-decoration: none; border-radius: 6px;">{label}</a>'
    "</td>\n</tr></table>\n"
    '<p class="mail-muted" style="margin: 0 0 16px; font-size: 13px; line-height: 1.5; '
    'color: #555555; word-break: break-all;">{hint}<br>\n'
    '<a href="{url}" style="color: #0b57d0;">{url}</a></p>'
)


def link_button(link: str) -> str:
    """The personal link as a button that every mail client draws (a table
    cell with a background, not CSS alone), the address itself below it for
    clients that hide buttons and for people who copy it."""
    return _BUTTON.format(
        url=escape(link),
        label=escape(_("Confirm that I have read it")),
        hint=escape(_("If the button does not work, open this address:")),
    )


def _block_html(lines: list[str], link: str) -> list[str]:
    out: list[str] = []
    para: list[str] = []
    steps: list[str] = []

    def linked(line: str) -> str:
        html = str(escape(line))
        if link:
            escaped = str(escape(link))
            html = html.replace(escaped, f'<a href="{escaped}">{escaped}</a>')
        return html

    def flush() -> None:
        if para:
            out.append(_P + "<br>\n".join(para) + "</p>")
            para.clear()
        if steps:
            items = "".join(f'<li style="margin: 0 0 8px;">{s}</li>\n' for s in steps)
            out.append(
                '<ol style="margin: 0 0 16px; padding-left: 24px;">\n' + items + "</ol>"
            )
            steps.clear()

    for line in lines:
        step = _STEP_LINE.match(line)
        if link and line.strip() == link:
            flush()
            out.append(link_button(link))
        elif step:
            if para:
                out.append(_P + "<br>\n".join(para) + "</p>")
                para.clear()
            steps.append(linked(step.group(1)))
        else:
            if steps:
                flush()
            para.append(linked(line))
    flush()
    return out


def text_to_html(text: str, *, link: str) -> str:
    """Escaped paragraphs; numbered lines become a list; a line holding only
    ``link`` becomes a button. Only ``link`` becomes clickable.

    Linking only our own acknowledgement address keeps every other URL typed
    in the text visible as text (anti-phishing: no hidden targets).
    """
    text = text.replace("\r\n", "\n").strip()
    blocks = [b for b in re.split(r"\n[ \t]*\n", text) if b.strip()]
    html: list[str] = []
    for block in blocks:
        html.extend(_block_html(block.split("\n"), link))
    return "\n".join(html)


def verify_url() -> str:
    return f"{settings.SITE_URL}/verify/"


# Values a wrapper template shows: French spacing is applied to the
# template's own words, never inside a value (a name, a link, the DPO's text,
# already spaced), so each stands as a marker while the spacing is done.
_KEPT = (
    "first_name",
    "last_name",
    "ack_url",
    "body_text",
    "body_html",
    "subject",
    "dpo_contact",
    "reference",
    "deadline",
    "verify_url",
)


def _spaced(text: str, kept: dict[str, str], *, html: bool) -> str:
    text = typography(text, language="fr", html=html)
    for mark, value in kept.items():
        if mark in text:
            shown = value if not html or mark.endswith("body_html") else escape(value)
            text = text.replace(mark, str(shown))
    return text


def _render_email(name: str, language: str, context: dict) -> tuple[str, str, str]:
    context = {**context, "language": language, "verify_url": verify_url()}
    kept: dict[str, str] = {}
    if language == "fr":
        for key in _KEPT:
            if isinstance(context.get(key), str) and context[key]:
                mark = f"Zq7Kept{len(kept)}x{key}"
                kept[mark], context[key] = context[key], mark
    with translation.override(language):
        subject = render_to_string(f"emails/{name}-subject.txt", context)
        text = render_to_string(f"emails/{name}-body.txt", context)
        html = render_to_string(f"emails/{name}-body.html", context)
    for mark, value in kept.items():
        subject = subject.replace(mark, value)
    if kept:
        text, html = _spaced(text, kept, html=False), _spaced(html, kept, html=True)
    return " ".join(subject.split()), text, html


def message_render(
    *,
    campaign: Campaign,
    content: CampaignContent,
    kind: str,
    first_name: str,
    last_name: str,
    token: str,
    now: datetime,
    tz: ZoneInfo | None = None,
    marks: dict[str, str] | None = None,
) -> RenderedMessage:
    """One campaign message as its recipient receives it (its deadline in
    ``tz``, their zone). ``marks`` stand for placeholder values filled in
    later (delivery/render.py renders once per version, not per person)."""
    values = placeholder_values(
        campaign=campaign,
        language=content.language,
        first_name=first_name,
        last_name=last_name,
        token=token,
        now=now,
        tz=tz,
    )
    values.update(marks or {})
    language = content.language
    body_text = substitute(typography(content.body_text, language=language), values)
    if content.body_html:
        body_html = substitute(
            typography(content.body_html, language=language, html=True),
            values,
            html=True,
        )
    else:
        with translation.override(language):  # the button's words
            body_html = text_to_html(body_text, link=values["ack_url"])
    context = {
        "campaign": campaign,
        "kind": kind,
        "is_reminder": kind in (StepKind.REMINDER, StepKind.LAST_CALL),
        "is_last_call": kind == StepKind.LAST_CALL,
        "subject": substitute(content.subject, values),
        "body_text": body_text,
        "body_html": body_html,
        **values,
    }
    subject, text, html = _render_email("campaign-message", content.language, context)
    return RenderedMessage(
        content.language, subject, text, html, content=content, sha256=content.sha256
    )


@dataclass(frozen=True)
class DigestLine:
    first_name: str
    last_name: str
    email: str


def digest_render(
    *,
    campaign: Campaign,
    language: str,
    manager_first_name: str,
    reports: list[DigestLine],
    now: datetime,
    tz: ZoneInfo | None = None,
) -> RenderedMessage:
    """The manager digest: their direct reports who have not acknowledged
    (the deadline in ``tz``, the manager's zone)."""
    tz = tz or ZoneInfo(campaign.time_zone)
    context = {
        "campaign": campaign,
        "first_name": manager_first_name,
        "reports": reports,
        "deadline": deadline_display(campaign.deadline, tz=tz, language=language),
        "days_left": days_left(campaign.deadline, tz=tz, now=now),
        "reference": campaign.reference,
        "dpo_contact": campaign.dpo_contact,
    }
    subject, text, html = _render_email("manager-digest", language, context)
    return RenderedMessage(language, subject, text, html)


_EMAIL_IN_TEXT = re.compile(r"[^\s<>(),;:\"']+@[^\s<>(),;:\"']+\.[A-Za-z]{2,}")


def from_address(campaign: Campaign) -> str:
    """The From of a campaign's messages: its sender, with EMAIL_FROM_NAME as
    the display name unless the sender already names itself."""
    sender = campaign.from_email or settings.DEFAULT_FROM_EMAIL
    name, address = parseaddr(sender)
    display = getattr(settings, "EMAIL_FROM_NAME", "")
    if name or not display or not address:
        return sender
    return formataddr((display, address))


def reply_to_address(campaign: Campaign) -> str:
    """Where a reply goes: the campaign's reply-to address, else the e-mail
    address in its DPO contact (a reply should reach the DPO, not the
    sending mailbox), else nowhere (the From)."""
    if campaign.reply_to:
        return campaign.reply_to
    found = _EMAIL_IN_TEXT.findall(campaign.dpo_contact or "")
    if len(found) != 1:
        return ""
    try:
        validate_email(found[0])
    except ValidationError:
        return ""
    return found[0]


@lru_cache(maxsize=64)
def message_id_domain(sender: str) -> str:
    """The domain of a From address, for Message-IDs: an id on the sending
    domain, not the worker's host name (``@localhost`` is a spam signal)."""
    domain = parseaddr(sender)[1].rpartition("@")[2].strip().rstrip(".")
    try:
        return domain.encode("idna").decode("ascii") if domain else DNS_NAME
    except UnicodeError:
        return DNS_NAME


def date_header(tz: tzinfo | None, now: datetime | None = None) -> str:
    """RFC 5322 Date in ``tz`` with its real offset (+0100, +0000), never the
    "-0000" (zone unknown) of formatdate()."""
    moment = (now or timezone.now()).astimezone(tz or ZoneInfo("UTC"))
    return format_datetime(moment.replace(microsecond=0))


@lru_cache(maxsize=64)
def subject_header(subject: str, encoding: str) -> str:
    """The Subject's value: plain when ASCII, else RFC 2047 words whose first
    one fits after "Subject: ". Django's own encoding leaves the first line
    empty, which many clients decode with a leading space."""
    try:
        subject.encode("ascii")
    except UnicodeEncodeError:
        return Header(subject, encoding, header_name="Subject").encode()
    return subject


class CampaignEmail(EmailMultiAlternatives):
    """Django's message, with a Subject that decodes without a leading space."""

    def _subject_value(self, subject: str, encoding: str) -> str:
        return subject_header(subject, encoding)

    def message(self) -> Message:
        subject, self.subject = self.subject, ""
        try:
            msg = super().message()
        finally:
            self.subject = subject
        encoding = self.encoding or settings.DEFAULT_CHARSET
        msg.replace_header("Subject", self._subject_value(subject, encoding))
        return msg


def email_build(
    message: RenderedMessage, *, campaign: Campaign, to: str
) -> EmailMultiAlternatives:
    sender = from_address(campaign)
    reply_to = reply_to_address(campaign)
    email = CampaignEmail(
        subject=message.subject,
        body=message.body_text,
        from_email=sender,
        to=[to],
        reply_to=[reply_to] if reply_to else None,
        headers={
            "X-Campaign-Reference": campaign.reference,
            "Content-Language": message.language,
            "Date": date_header(ZoneInfo(campaign.time_zone)),
            "Message-ID": make_msgid(domain=message_id_domain(sender)),
        },
    )
    email.attach_alternative(message.body_html, "text/html")
    return email
