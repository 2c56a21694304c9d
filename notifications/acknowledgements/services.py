"""Personal links: finding the recipient, what the page shows, recording.

Reading a link never writes (mail scanners fetch every link); only
``acknowledgement_record``, called for a valid POST of the page's form, does.
Each write is a conditional UPDATE so a double click, a refresh or two
browsers change the state once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.utils import timezone
from django.utils.html import linebreaks, urlize
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from common.db import cursor_prepared
from employees import timezones
from employees.models import Employee
from events.catalogue import ACKNOWLEDGED
from events.outbox import emit, nudge_after_commit, outbox_statement
from events.payloads import recipient_payload
from notifications.campaigns import content as content_mod
from notifications.campaigns.tokens import token_hash
from notifications.models import (
    LINKS_AVAILABLE,
    Acknowledgement,
    AcknowledgementKind,
    Campaign,
    CampaignContent,
    CampaignStatus,
    Recipient,
    acknowledged_late,
)


class LinkState(models.TextChoices):
    OPEN = "open", _("Open")
    NOT_STARTED = "not_started", _("Not started")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")


class Outcome(models.TextChoices):
    RECORDED = "recorded", _("Recorded")
    ALREADY = "already", _("Already acknowledged")
    CHANGED = "changed", _("Answer changed")
    CHANGE_CLOSED = "change_closed", _("Answer can no longer be changed")
    # The campaign closes at its deadline: nothing recorded.
    CLOSED = "closed", _("Closed at the deadline")


@dataclass(frozen=True)
class Result:
    outcome: str
    acknowledged_at: datetime | None
    answer: str


# --- Reading -----------------------------------------------------------------


# What the page needs of a recipient and of its campaign. Read live on every
# request (a cancelled campaign's links die at once) in one hand-written
# query on the unique token_hash index: compiling the ORM query (Campaign has
# ~30 columns) cost more than running it. Other fields stay deferred. In the
# models' field order: Model.from_db reads the values in that order.
_RECIPIENT_FIELDS = (
    "id",
    "campaign_id",
    "language",
    "first_name",
    "last_name",
    "acknowledged_at",
    "answer",
)
# In the model's field order: Model.from_db() pairs values with fields in it.
_CAMPAIGN_FIELDS = (
    "id",
    "reference",
    "deadline",
    "status",
    "dpo_contact",
    "time_zone",
    "closes_at_deadline",
    "asks_answer",
    "answer_choices",
    "answer_required",
    "finished_at",
)
Converter = tuple[models.Field, list[Callable[..., object]], models.Expression]


@dataclass(frozen=True)
class _Lookup:
    sql: str
    recipient: list[Converter]
    campaign: list[Converter]


_LOOKUPS: dict[str, _Lookup] = {}


def _converters(
    model: type[models.Model], names: tuple[str, ...], alias: str
) -> list[Converter]:
    connection = connections[DEFAULT_DB_ALIAS]
    found = []
    for name in names:
        field = model._meta.get_field(name.removesuffix("_id"))
        col = field.get_col(alias)
        convert = connection.ops.get_db_converters(col)
        convert += field.get_db_converters(connection)
        found.append((field, convert, col))
    return found


def _lookup() -> _Lookup:
    connection = connections[DEFAULT_DB_ALIAS]
    cached = _LOOKUPS.get(connection.vendor)
    if cached:
        return cached
    q = connection.ops.quote_name
    recipient = _converters(Recipient, _RECIPIENT_FIELDS, "r")
    campaign = _converters(Campaign, _CAMPAIGN_FIELDS, "c")
    columns = [f"r.{q(f.column)}" for f, _c, _e in recipient]
    columns += [f"c.{q(f.column)}" for f, _c, _e in campaign]
    # Only model metadata goes into the text; the digest is a parameter.
    table, campaigns = q(Recipient._meta.db_table), q(Campaign._meta.db_table)
    # And the person's time zone and country: the deadline is shown in their
    # zone (employees.timezones), both plain text columns needing no converter.
    people = q(Employee._meta.db_table)
    columns += [f"e.{q(name)}" for name in ("time_zone", "country")]
    sql = (
        f"SELECT {', '.join(columns)} FROM {table} r "  # noqa: S608
        f"INNER JOIN {campaigns} c ON c.{q('id')} = r."
        f"{q(Recipient._meta.get_field('campaign').column)} "
        f"INNER JOIN {people} e ON e.{q('id')} = r."
        f"{q(Recipient._meta.get_field('employee').column)} "
        f"WHERE r.{q(Recipient._meta.get_field('token_hash').column)} = %s"
    )
    _LOOKUPS[connection.vendor] = cached = _Lookup(sql, recipient, campaign)
    return cached


def _values(row: Sequence[object], converters: list[Converter]) -> list[object]:
    connection = connections[DEFAULT_DB_ALIAS]
    values = []
    for value, (_field, convert, col) in zip(row, converters, strict=True):
        for converter in convert:
            value = converter(value, col, connection)
        values.append(value)
    return values


def recipient_by_token(token: str) -> Recipient | None:
    """The recipient of a link (with its campaign), or None.

    The same work whatever the token looks like: hash it all (no length or
    alphabet check that would return early), then one lookup on the unique
    index. The hash makes how much of a real token matched irrelevant to the
    lookup, so a 404's timing says nothing about near misses.
    """
    digest = token_hash(token)
    lookup = _lookup()
    with cursor_prepared() as cursor:
        cursor.execute(lookup.sql, [digest])
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(lookup.recipient)
    recipient = Recipient.from_db(
        DEFAULT_DB_ALIAS,
        list(_RECIPIENT_FIELDS),
        _values(row[:split], lookup.recipient),
    )
    end = split + len(lookup.campaign)
    campaign = Campaign.from_db(
        DEFAULT_DB_ALIAS,
        list(_CAMPAIGN_FIELDS),
        _values(row[split:end], lookup.campaign),
    )
    recipient.campaign = campaign
    recipient.time_zone = timezones.zone_name(
        time_zone=row[end], country=row[end + 1], default=campaign.time_zone
    )
    return recipient


def recipient_zone(recipient: Recipient) -> ZoneInfo:
    """The zone the page shows times in: the person's (employees.timezones,
    read by recipient_by_token), else the campaign's."""
    return ZoneInfo(getattr(recipient, "time_zone", "") or recipient.campaign.time_zone)


def link_expires_at(campaign: Campaign) -> datetime | None:
    """When a launched campaign's links stop working (None: draft, cancelled).

    ACK_LINK_DAYS_AFTER_FINISH days after the campaign finished. Nothing is
    sent after the deadline, so a campaign has ended by then at the latest
    whatever its status says: one the dispatcher has not marked finished
    (paused and never resumed, the dispatcher stopped) counts from its
    deadline, and its links cannot stay open for good.
    """
    if campaign.status not in LINKS_AVAILABLE:
        return None
    end = max(campaign.finished_at or campaign.deadline, campaign.deadline)
    return end + timedelta(days=settings.ACK_LINK_DAYS_AFTER_FINISH)


def link_state(campaign: Campaign, *, now: datetime | None = None) -> str:
    now = now or timezone.now()
    if campaign.status == CampaignStatus.CANCELLED:
        return LinkState.CANCELLED
    if campaign.status == CampaignStatus.DRAFT:
        return LinkState.NOT_STARTED
    expires = link_expires_at(campaign)
    if expires is not None and now >= expires:
        return LinkState.EXPIRED
    return LinkState.OPEN


# campaign id -> (read at, current contents). Content rows are never edited
# after launch (a change is a new version), so a copy a few seconds old shows
# a text that existed, and the version recorded is the one displayed.
_CONTENTS: dict[int, tuple[float, dict[str, CampaignContent]]] = {}
CONTENTS_TTL_SECONDS = 10.0


def current_contents(campaign: Campaign) -> dict[str, CampaignContent]:
    """The current text per language (one query per campaign every 10 s)."""
    cached = _CONTENTS.get(campaign.pk)
    now = time.monotonic()
    if cached and now - cached[0] < CONTENTS_TTL_SECONDS:
        return cached[1]
    contents = {c.language: c for c in campaign.contents.filter(is_current=True)}
    if len(_CONTENTS) > 256:
        _CONTENTS.clear()
    _CONTENTS[campaign.pk] = (now, contents)
    return contents


def page_languages(contents: dict[str, CampaignContent]) -> list[str]:
    """Languages the page can be read in: those with current content."""
    return [code for code, _name in settings.LANGUAGES if code in contents]


def page_language(requested: str, recipient: Recipient, available: list[str]) -> str:
    """?lang= when offered, else the recipient's language, else the default."""
    for candidate in (requested, recipient.language, settings.LANGUAGE_CODE):
        if candidate in available:
            return candidate
    return available[0] if available else settings.LANGUAGE_CODE


def answer_choices(campaign: Campaign, language: str) -> list[tuple[str, str]]:
    if not campaign.asks_answer:
        return []
    choices = []
    for choice in campaign.answer_choices or []:
        labels = choice.get("labels") or {}
        label = (
            labels.get(language)
            or labels.get(settings.LANGUAGE_CODE)
            or choice["value"]
        )
        choices.append((choice["value"], label))
    return choices


@lru_cache(maxsize=128)
def _page_skeleton(page_text: str) -> str:
    """The page text as HTML with its placeholders still in.

    Escaped; web addresses become links showing their full address, and no
    Referer leaves with a click. Cached per text: urlize is the most
    expensive step of the page and a campaign has a handful of texts.
    """
    html = urlize(page_text, nofollow=True, autoescape=True)
    html = html.replace('rel="nofollow"', 'rel="nofollow noopener noreferrer"')
    return linebreaks(html, autoescape=False)


def _page_html(page_text: str, values: dict[str, str]) -> SafeString:
    # Values are HTML-escaped as they are substituted into escaped markup.
    html = content_mod.substitute(_page_skeleton(page_text), values, html=True)
    return mark_safe(html)  # noqa: S308


@dataclass(frozen=True)
class Page:
    content: CampaignContent
    title: str
    body: SafeString
    deadline: str
    days_left: int
    deadline_passed: bool
    # Past the deadline of a campaign that closes at it: no acknowledgement.
    closed: bool = False
    # Acknowledged after the deadline.
    late: bool = False


# The placeholders that are the same for every recipient of a campaign on a
# given day, per language (formatting the deadline is the costly part).
_SHARED_VALUES: dict[tuple, dict[str, str]] = {}


def _shared_values(
    campaign: Campaign, language: str, days: int, now: datetime, tz: ZoneInfo
) -> dict[str, str]:
    key = (
        campaign.pk,
        campaign.deadline,
        tz.key,
        campaign.reference,
        campaign.dpo_contact,
        language,
        days,
    )
    values = _SHARED_VALUES.get(key)
    if values is None:
        values = content_mod.placeholder_values(
            campaign=campaign,
            language=language,
            first_name="",
            last_name="",
            token="",
            now=now,
            tz=tz,
        )
        if len(_SHARED_VALUES) > 256:
            _SHARED_VALUES.clear()
        _SHARED_VALUES[key] = values
    return values


def page_build(
    *, recipient: Recipient, content: CampaignContent, token: str, now: datetime
) -> Page:
    campaign = recipient.campaign
    tz = recipient_zone(recipient)
    days = content_mod.days_left(campaign.deadline, tz=tz, now=now)
    values = {
        **_shared_values(campaign, content.language, days, now, tz),
        "first_name": recipient.first_name,
        "last_name": recipient.last_name,
        "ack_url": content_mod.ack_url(token),
    }
    return Page(
        content=content,
        title=content_mod.substitute(content.subject, values),
        body=_page_html(content.page_text, values),
        deadline=values["deadline"],
        days_left=days,
        deadline_passed=now >= campaign.deadline,
        closed=acknowledgements_closed(campaign, now=now),
        late=acknowledged_late(recipient.acknowledged_at, campaign.deadline),
    )


def acknowledgements_closed(campaign: Campaign, *, now: datetime) -> bool:
    """Whether a first acknowledgement is refused: past the deadline of a
    campaign that closes at it (otherwise it is recorded, and late)."""
    return campaign.closes_at_deadline and now >= campaign.deadline


# --- Writing -------------------------------------------------------------------


def _client_info(client_ip: str | None, user_agent: str) -> dict[str, object]:
    if not settings.ACK_RECORD_CLIENT_INFO:
        return {"client_ip": None, "user_agent": ""}
    return {"client_ip": client_ip or None, "user_agent": (user_agent or "")[:255]}


_HISTORY_FIELDS = ("kind", "at", "answer", "content", "language", "client_ip")
_HISTORY_FIELDS += ("user_agent",)
_FIRST_SQL: dict[str, str] = {}


def _first_sql(outbox: str = "") -> str:
    """PostgreSQL: the first acknowledgement as one statement.

    The conditional UPDATE of the recipient and the INSERT of its history
    row, chained by a data-modifying WITH: atomic as any single statement,
    and one round trip instead of BEGIN, UPDATE, INSERT, COMMIT. Inserts
    nothing when the recipient had already acknowledged. ``outbox``: the
    webhook's outbox row written by the same statement (events.outbox).
    """
    connection = connections[DEFAULT_DB_ALIAS]
    sql = _FIRST_SQL.get(f"{connection.vendor} {outbox}")
    if sql:
        return sql
    q = connection.ops.quote_name
    recipient = Recipient._meta
    column = recipient.get_field
    history = Acknowledgement._meta
    fields = [history.get_field(name) for name in _HISTORY_FIELDS]
    names = ", ".join(q(f.column) for f in fields)
    values = ", ".join(f"CAST(%s AS {f.db_type(connection)})" for f in fields)
    sql = (
        f"WITH first AS (UPDATE {q(recipient.db_table)} "  # noqa: S608 (metadata)
        f"SET {q(column('acknowledged_at').column)} = %s, "
        f"{q(column('answer').column)} = %s, "
        f"{q(column('content_version_seen').column)} = %s "
        f"WHERE {q('id')} = %s AND {q(column('acknowledged_at').column)} IS NULL "
        f"RETURNING {q('id')}) "
        f"INSERT INTO {q(history.db_table)} "
        f"({q(history.get_field('recipient').column)}, {names}) "
        f"SELECT {q('id')}, {values} FROM first RETURNING {q('id')}"
    )
    if outbox:
        head, insert = sql.split(") INSERT INTO ", 1)
        sql = f"{head}), history AS (INSERT INTO {insert}) {outbox} history RETURNING 1"
    _FIRST_SQL[f"{connection.vendor} {outbox}"] = sql
    return sql


def _first_in_one_statement(
    recipient: Recipient,
    content: CampaignContent | None,
    history: dict,
    outbox: tuple[str, list] | None = None,
) -> bool:
    """True when this recorded the first acknowledgement (PostgreSQL only;
    elsewhere False, and the caller's transaction does the same work)."""
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql":
        return False
    row = {**history, "kind": AcknowledgementKind.FIRST.value}
    row["content"] = content.pk if content else None
    fields = Acknowledgement._meta
    params = [
        history["at"],
        history["answer"],
        row["content"],
        recipient.pk,
        *(
            fields.get_field(name).get_db_prep_save(row[name], connection)
            for name in _HISTORY_FIELDS
        ),
    ]
    sql, extra = outbox or ("", [])
    with connection.cursor() as cursor:
        cursor.execute(_first_sql(sql), params + extra)
        return cursor.fetchone() is not None


def acknowledgement_record(
    *,
    recipient: Recipient,
    content: CampaignContent | None,
    answer: str = "",
    language: str = "",
    client_ip: str | None = None,
    user_agent: str = "",
    now: datetime | None = None,
) -> Result:
    """Record an acknowledgement, or an answer change until the deadline.

    The first acknowledgement's time and content version are kept forever;
    a later POST with the same answer changes nothing. After the deadline
    the first one is still recorded (late: models.acknowledged_late), unless
    the campaign closes at its deadline: then nothing is written.
    """
    now = now or timezone.now()
    campaign = recipient.campaign
    if recipient.acknowledged_at is None and acknowledgements_closed(campaign, now=now):
        return Result(Outcome.CLOSED, None, "")
    history = {
        "recipient": recipient,
        "at": now,
        "answer": answer,
        "content": content,
        "language": language,
        **_client_info(client_ip, user_agent),
    }
    # The webhook's outbox row, written by the same statement when listened to.
    outbox = outbox_statement(
        ACKNOWLEDGED, recipient_payload(recipient, at=now, answer=answer)
    )
    if _first_in_one_statement(recipient, content, history, outbox):
        if outbox:
            nudge_after_commit()
        recipient.acknowledged_at, recipient.answer = now, answer
        return Result(Outcome.RECORDED, now, answer)
    with transaction.atomic():
        first = Recipient.objects.filter(
            pk=recipient.pk, acknowledged_at__isnull=True
        ).update(acknowledged_at=now, answer=answer, content_version_seen=content)
        if first:
            Acknowledgement.objects.create(kind=AcknowledgementKind.FIRST, **history)
            emit(ACKNOWLEDGED, recipient_payload(recipient, at=now, answer=answer))
            # What the UPDATE wrote: no need to read it back.
            recipient.acknowledged_at, recipient.answer = now, answer
            return Result(Outcome.RECORDED, now, answer)
        recipient.refresh_from_db(fields=["acknowledged_at", "answer"])
        # No answer sent (an optional question left blank) keeps the answer
        # already given: leaving the radio buttons alone never erases it.
        if not campaign.asks_answer or not answer or answer == recipient.answer:
            return Result(Outcome.ALREADY, recipient.acknowledged_at, recipient.answer)
        if now >= campaign.deadline:
            return Result(
                Outcome.CHANGE_CLOSED, recipient.acknowledged_at, recipient.answer
            )
        changed = (
            Recipient.objects.filter(pk=recipient.pk, acknowledged_at__isnull=False)
            .exclude(answer=answer)
            .update(answer=answer)
        )
        if changed:
            Acknowledgement.objects.create(
                kind=AcknowledgementKind.ANSWER_CHANGED, **history
            )
            emit(
                "recipient.answer_changed", recipient_payload(recipient, answer=answer)
            )
        recipient.refresh_from_db(fields=["acknowledged_at", "answer"])
        outcome = Outcome.CHANGED if changed else Outcome.ALREADY
        return Result(outcome, recipient.acknowledged_at, recipient.answer)
