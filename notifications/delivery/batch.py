"""ESP batch sending: one API call per chunk (anymail merge_data), recorded in bulk.

Used when EMAIL_BATCH_TEMPLATE names a pass-through template at an ESP
(policy._batching): each person's message is still rendered by us
(render.py), the ESP only substitutes it. One call is one request in flight
for the whole batch (a worker dying during it leaves every row "sending" for
the sweeper), and its accepted rows are recorded together: one UPDATE per
content version, not one per row. The same address twice in one call goes
out one by one (each.py).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from anymail.exceptions import (
    AnymailAPIError,
    AnymailRecipientsRefused,
    AnymailUnsupportedFeature,
)
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, transaction
from django.utils import timezone

from common.db import cursor_prepared
from notifications.campaigns import content as content_mod
from notifications.delivery.claim import (
    SendReport,
    _Claim,
    _fail,
    _on_error,
    _retry_or_fail,
)
from notifications.delivery.each import _send_each
from notifications.delivery.outage import through_outage
from notifications.delivery.policy import Knobs, knobs
from notifications.delivery.render import _Outgoing
from notifications.delivery.tracking import status_after_send
from notifications.models import Campaign, Delivery, DeliveryStatus


def _send_batch(
    campaign: Campaign, outgoing: list[_Outgoing], report: SendReport, claim: _Claim
) -> None:
    """One ESP API call for the chunk (anymail merge_data), up to the ESP's limit."""
    k = knobs()
    for start in range(0, len(outgoing), max(1, k.batch_size)):
        claim.keep()
        _send_one_batch(
            campaign, outgoing[start : start + k.batch_size], k, report, claim
        )


def _send_one_batch(
    campaign: Campaign,
    outgoing: list[_Outgoing],
    k: Knobs,
    report: SendReport,
    claim: _Claim,
) -> None:
    by_address: dict[str, _Outgoing] = {}
    for out in outgoing:
        by_address.setdefault(out.to.lower(), out)
    duplicates = [o for o in outgoing if by_address[o.to.lower()] is not o]
    batch = list(by_address.values())
    reply_to = content_mod.reply_to_address(campaign)
    languages = {o.message.language for o in batch}
    headers = {"X-Campaign-Reference": campaign.reference}
    if len(languages) == 1:
        headers["Content-Language"] = batch[0].message.language
    email = EmailMultiAlternatives(
        from_email=content_mod.from_address(campaign),
        to=[o.to for o in batch],
        reply_to=[reply_to] if reply_to else None,
        headers=headers,
    )
    if len(languages) > 1:  # each message's own language, in the same call
        email.merge_headers = {
            o.to: {"Content-Language": o.message.language} for o in batch
        }
    email.template_id = k.batch_template
    email.merge_data = {
        o.to: {
            "subject": o.message.subject,
            "body_text": o.message.body_text,
            "body_html": o.message.body_html,
        }
        for o in batch
    }
    claim.wait_for(len(batch))
    try:
        get_connection(ignore_recipient_status=True).send_messages([email])
    except AnymailUnsupportedFeature:
        # An ESP without per-recipient headers: one call per language.
        for language in sorted(languages):
            group = [o for o in batch if o.message.language == language]
            _send_one_batch(campaign, group, k, report, claim)
    except Exception as exc:
        _on_error([o.row for o in batch], exc, report)
    else:
        _record_batch(batch, email, report)
    if duplicates:  # the same address twice in one call: send it separately
        _send_each(campaign, duplicates, report, claim)


def _record_batch(
    batch: list[_Outgoing], email: EmailMultiAlternatives, report: SendReport
) -> None:
    statuses = email.anymail_status.recipients
    now = timezone.now()
    sent: dict[tuple, list[int]] = defaultdict(list)
    message_ids: dict[int, str] = {}
    for out in batch:
        status = statuses.get(out.to) or statuses.get(out.to.lower())
        row = out.row
        if status is not None and status.status in ("rejected", "invalid"):
            _fail([row], AnymailRecipientsRefused(f"{out.to}: {status.status}"), report)
            continue
        if status is not None and status.status == "failed":
            _retry_or_fail([row], AnymailAPIError(f"{out.to}: failed"), report)
            continue
        content = out.message.content
        key = (
            content.pk if content else None,
            out.message.sha256,
            out.message.language,
        )
        sent[key].append(row.pk)
        message_ids[row.pk] = (status and status.message_id) or ""

    # One UPDATE for the call on PostgreSQL (each row's ESP id, content
    # version, hash and language from arrays), one per content version
    # elsewhere, each row written once: bulk_update's CASE per field and row
    # cost more than the API call, and with 24 languages one statement per
    # version was 24 round trips per call.
    # The ESP accepted them: a database outage now is waited out (outage.py)
    # rather than leaving them to be sent again.
    def record() -> None:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                _mark_batch_sent_postgresql(
                    [
                        (pk, message_ids[pk], *key)
                        for key, ids in sent.items()
                        for pk in ids
                    ],
                    now=now,
                )
                return
            for (content_id, sha256, language), ids in sent.items():
                _mark_batch_sent(
                    {pk: message_ids[pk] for pk in ids},
                    content_id=content_id,
                    sha256=sha256,
                    language=language,
                    now=now,
                )

    through_outage(record, what="recording the batch")
    report.sent += len(message_ids)


def _columns() -> tuple[str, str, dict[str, str]]:
    """The Delivery table, its primary key and the columns recording a
    sent message writes, quoted."""
    meta, quote = Delivery._meta, connection.ops.quote_name
    column = {
        name: quote(meta.get_field(name).column)
        for name in (
            "status",
            "sent_at",
            "status_at",
            "language",
            "content",
            "content_sha256",
            "last_error",
            "claimed_at",
            "next_attempt_at",
            "esp_message_id",
        )
    }
    return quote(meta.db_table), quote("id"), column


def _sent_set(
    column: dict[str, str], *, language: str, content: str, sha256: str, esp_id: str
) -> str:
    """What recording a sent message writes, for both paths: the status and
    its times (three placeholders, in this order) and the SQL expressions
    each path gives for the per-message columns."""
    return (
        f"{column['status']} = %s, {column['sent_at']} = %s, "
        f"{column['status_at']} = %s, {column['language']} = {language}, "
        f"{column['content']} = {content}, {column['content_sha256']} = {sha256}, "
        f"{column['last_error']} = '', {column['claimed_at']} = NULL, "
        f"{column['next_attempt_at']} = NULL, {column['esp_message_id']} = {esp_id}"
    )


def _mark_batch_sent_postgresql(
    rows: list[tuple[int, str, int | None, str, str]], *, now: datetime
) -> None:
    """Rows (id, ESP id, content id, hash, language) recorded as sent in one
    statement: five array parameters whatever the batch, so the statement is
    the same for every call and prepared once (common.db), and neither
    psycopg nor the server parses a placeholder per row."""
    table, pk, column = _columns()
    ids, message_ids, content_ids, hashes, languages = (
        [list(values) for values in zip(*rows, strict=True)] if rows else [[]] * 5
    )
    with cursor_prepared() as cursor:
        cursor.execute(
            f"UPDATE {table} SET "  # noqa: S608 (names from the model, placeholders only)
            + _sent_set(
                column,
                language="batch.language",
                content="batch.content_id",
                sha256="batch.sha256",
                esp_id="batch.message_id",
            )
            + " FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::text[], "
            f"%s::text[]) AS batch(id, message_id, content_id, sha256, language) "
            f"WHERE {table}.{pk} = batch.id AND {table}.{column['status']} = %s",
            [
                status_after_send(),
                now,
                now,
                ids,
                message_ids,
                content_ids,
                hashes,
                languages,
                DeliveryStatus.SENDING,
            ],
        )


def _mark_batch_sent(
    message_ids: dict[int, str],
    *,
    content_id: int | None,
    sha256: str,
    language: str,
    now: datetime,
) -> None:
    """One content version's rows recorded as sent (the portable path), each
    with its ESP id from a CASE."""
    table, pk, column = _columns()
    at = connection.ops.adapt_datetimefield_value(now)
    whens = " ".join(["WHEN %s THEN %s"] * len(message_ids))
    marks = ", ".join(["%s"] * len(message_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET "  # noqa: S608 (names from the model, placeholders only)
            + _sent_set(
                column,
                language="%s",
                content="%s",
                sha256="%s",
                esp_id=f"CASE {pk} {whens} END",
            )
            + f" WHERE {pk} IN ({marks}) AND {column['status']} = %s",
            [
                status_after_send(),
                at,
                at,
                language,
                content_id,
                sha256,
                *(v for pair in message_ids.items() for v in pair),
                *message_ids,
                DeliveryStatus.SENDING,
            ],
        )
