"""Sending one message at a time on one reused connection (SMTP, or any backend).

The hot path over SMTP: per message, a deadline check, the rate limit, the
raw bytes filled from their prototype (rawmail.py) and one prepared UPDATE
recording it right after the server accepted it, so a crash re-sends at
most the one message in flight; a database outage meanwhile is waited out
(outage.py) rather than forgetting a message the server accepted. A failure of the connection itself stops
the chunk (the rest waits for a retry); a failure of one message does not.
"""

from __future__ import annotations

import logging
from functools import cache

from django.core.mail import get_connection
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from common.db import cursor_prepared
from notifications.delivery import rawmail, reasons
from notifications.delivery.claim import (
    SendReport,
    _Claim,
    _finish,
    _on_error,
    _retry_or_fail,
)
from notifications.delivery.outage import DB_OUTAGE_ERRORS, through_outage
from notifications.delivery.policy import error_breaks_connection
from notifications.delivery.render import _email, _Outgoing
from notifications.delivery.tracking import status_after_send
from notifications.models import Campaign, Delivery, DeliveryStatus

logger = logging.getLogger(__name__)


def _send_each(
    campaign: Campaign, outgoing: list[_Outgoing], report: SendReport, claim: _Claim
) -> None:
    """One message at a time on one reused connection (SMTP, or any backend)."""
    connection = get_connection()
    smtp = type(connection) is SmtpBackend
    recorder = _Recorder()
    try:
        connection.open()
    except Exception as exc:
        recorder.close()
        _on_error([o.row for o in outgoing], exc, report)
        return
    try:
        _send_each_on(campaign, outgoing, report, connection, smtp, recorder, claim)
    finally:
        recorder.close()
        try:
            connection.close()
        except Exception:  # closing a broken connection may fail: nothing to do
            logger.debug("closing the mail connection failed", exc_info=True)


class _Recorder:
    """Records accepted messages on one prepared cursor, through an outage.

    The server has accepted the message: forgetting it would send it again.
    So a database error here waits for the database (outage.through_outage)
    and writes the same conditional UPDATE on a new connection; the rest of
    the chunk goes on with a new cursor. Nothing of this runs while the
    database answers.
    """

    def __init__(self) -> None:
        self.cursor: CursorWrapper | None = cursor_prepared()

    def sent(self, out: _Outgoing, message_id: str) -> None:
        try:
            _record_sent(self.cursor, out, message_id)
        except DB_OUTAGE_ERRORS:
            logger.warning("recording a sent message: database unavailable")
            self.close()
            through_outage(lambda: self._again(out, message_id), what="recording")

    def _again(self, out: _Outgoing, message_id: str) -> None:
        self.close()
        self.cursor = cursor_prepared()
        _record_sent(self.cursor, out, message_id)

    def close(self) -> None:
        if self.cursor is None:
            return
        try:
            self.cursor.close()
        except Exception:  # a cursor of a dead connection: nothing to close
            logger.debug("closing the cursor failed", exc_info=True)
        self.cursor = None


def _send_each_on(
    campaign: Campaign,
    outgoing: list[_Outgoing],
    report: SendReport,
    mail_connection: object,
    smtp: bool,
    recorder: _Recorder,
    claim: _Claim,
) -> None:
    """The loop of _send_each, on its open mail connection and cursor."""
    for index, out in enumerate(outgoing):
        if timezone.now() >= campaign.deadline:
            rest = [o.row for o in outgoing[index:]]
            _finish(
                rest,
                DeliveryStatus.SKIPPED,
                reasons.MISSED,
                timezone.now(),
            )
            report.skipped += len(rest)
            return
        claim.wait_for(1)
        raw = out.renderer.raw(out) if smtp and out.renderer else None
        try:
            if raw is not None:
                # Django's SMTP backend would make the same sendmail()
                # call with these bytes (rawmail.py); only building them
                # is skipped.
                sender, data, message_id = raw
                rawmail.sendmail(mail_connection.connection, sender, out.to, data)
            else:
                email = _email(campaign, out)
                mail_connection.send_messages([email])
                status = getattr(email, "anymail_status", None)
                message_id = (status and status.message_id) or (
                    email.extra_headers["Message-ID"]
                )
        except Exception as exc:
            if error_breaks_connection(exc):
                _retry_or_fail([o.row for o in outgoing[index:]], exc, report)
                return
            _on_error([out.row], exc, report)
            continue
        recorder.sent(out, str(message_id))
        report.sent += 1


def _record_sent(cursor: CursorWrapper, out: _Outgoing, message_id: str) -> None:
    # One statement per accepted message (the at-most-one-duplicate rule),
    # so its cost is per message: written once as SQL, on one cursor per
    # chunk, instead of compiling a QuerySet.update() each time (which cost
    # more CPU than the statement). Same effect as
    # .filter(pk=…, status=SENDING).update(…): no signals, updated_at untouched.
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    content = out.message.content
    cursor.execute(
        _sent_sql(),
        [
            status_after_send(),
            now,
            now,
            message_id or "",
            out.to,
            out.message.language,
            content.pk if content else None,
            out.message.sha256,
            out.row.pk,
            DeliveryStatus.SENDING,
        ],
    )


@cache
def _sent_sql() -> str:
    meta, quote = Delivery._meta, connection.ops.quote_name
    columns = ", ".join(
        f"{quote(meta.get_field(name).column)} = {value}"
        for name, value in (
            ("status", "%s"),
            ("sent_at", "%s"),
            ("status_at", "%s"),
            ("esp_message_id", "%s"),
            ("to_email", "%s"),
            ("language", "%s"),
            ("content", "%s"),
            ("content_sha256", "%s"),
            ("last_error", "''"),
            ("claimed_at", "NULL"),
            ("next_attempt_at", "NULL"),
        )
    )
    return (
        f"UPDATE {quote(meta.db_table)} SET {columns} "  # noqa: S608 (names from the model)
        f"WHERE {quote('id')} = %s AND {quote(meta.get_field('status').column)} = %s"
    )
