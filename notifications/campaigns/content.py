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
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import formats, translation
from django.utils.html import escape, linebreaks
from django.utils.translation import gettext as _

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


def deadline_display(deadline: datetime, *, tz: ZoneInfo, language: str) -> str:
    local = deadline.astimezone(tz)
    with translation.override(language):
        text = formats.date_format(local, "DATE_FORMAT")
        if local.hour or local.minute:
            text += " " + formats.time_format(local, "TIME_FORMAT")
    return text


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
) -> dict[str, str]:
    tz = ZoneInfo(campaign.time_zone)
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


def text_to_html(text: str, *, link: str) -> str:
    """Escaped paragraphs and line breaks; only ``link`` becomes clickable.

    Linking only our own acknowledgement address keeps every other URL typed
    in the text visible as text (anti-phishing: no hidden targets).
    """
    html = str(escape(text))
    if link:
        escaped = str(escape(link))
        html = html.replace(escaped, f'<a href="{escaped}">{escaped}</a>')
    return linebreaks(html)


def verify_url() -> str:
    return f"{settings.SITE_URL}/verify/"


def _render_email(name: str, language: str, context: dict) -> tuple[str, str, str]:
    context = {**context, "language": language, "verify_url": verify_url()}
    with translation.override(language):
        subject = render_to_string(f"emails/{name}-subject.txt", context)
        text = render_to_string(f"emails/{name}-body.txt", context)
        html = render_to_string(f"emails/{name}-body.html", context)
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
) -> RenderedMessage:
    """One campaign message as its recipient receives it."""
    values = placeholder_values(
        campaign=campaign,
        language=content.language,
        first_name=first_name,
        last_name=last_name,
        token=token,
        now=now,
    )
    body_text = substitute(content.body_text, values)
    if content.body_html:
        body_html = substitute(content.body_html, values, html=True)
    else:
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
) -> RenderedMessage:
    """The manager digest: their direct reports who have not acknowledged."""
    tz = ZoneInfo(campaign.time_zone)
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


def email_build(
    message: RenderedMessage, *, campaign: Campaign, to: str
) -> EmailMultiAlternatives:
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.body_text,
        from_email=campaign.from_email or settings.DEFAULT_FROM_EMAIL,
        to=[to],
        reply_to=[campaign.reply_to] if campaign.reply_to else None,
        headers={"X-Campaign-Reference": campaign.reference},
    )
    email.attach_alternative(message.body_html, "text/html")
    return email
