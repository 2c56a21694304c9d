"""The worker's side: outbox → one delivery per endpoint → signed POSTs.

- ``fan_out``: events not yet fanned out become one ``WebhookDelivery`` per
  enabled endpoint subscribed to their type (unique per event and endpoint:
  two workers fanning out at once insert each row once).
- ``claim``: due deliveries move pending → sending with ``claimed_at``
  (``FOR UPDATE SKIP LOCKED`` on PostgreSQL: two workers split the rows).
- ``send_batch``: each claimed delivery POSTed, signed at the attempt's time,
  by a few threads; results written back in bulk.
- ``release_stale``: deliveries left "sending" by a killed worker go back to
  pending after ``WEBHOOK_CLAIM_TIMEOUT`` (the sweep runs it). A delivery in
  flight when its worker died is sent again with the same ``webhook-id``:
  at least once, the receiver de-duplicating by that id.

Retries follow ``WEBHOOK_RETRY_SCHEDULE`` (the specification's 0, 5 s,
5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h). A 429 or 503 with
``Retry-After`` is retried after that many seconds instead of the schedule's
delay (never sooner than the receiver asks; at most 24 h). A 410 disables
the endpoint; so does failing for ``WEBHOOK_DISABLE_AFTER`` seconds.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from audit.models import AuditAction
from audit.services import audit_record
from events import signing
from events.models import DeliveryStatus, Event, WebhookDelivery, WebhookEndpoint
from events.outbox import forget_subscriptions
from events.sending import Outcome, Sender

logger = logging.getLogger(__name__)

FAN_OUT_BATCH = 1000
# After its last piece of work a task keeps looking this long (outbox.NUDGE_EVERY).
LINGER = 0.5
MAX_RETRY_AFTER = 24 * 3600.0
AUDIT_WEBHOOK = AuditAction.WEBHOOK_CHANGE
_RELEASE = object()
_UPDATED = (
    "status",
    "attempts",
    "next_attempt_at",
    "claimed_at",
    "last_attempt_at",
    "last_status_code",
    "last_duration_ms",
    "last_error",
    "delivered_at",
)


def fan_out(*, limit: int = FAN_OUT_BATCH) -> int:
    now = timezone.now()
    with transaction.atomic():
        events = list(
            Event.objects.filter(fanned_out=False)
            .order_by("id")
            .select_for_update(skip_locked=True)
            .values_list("id", "type")[:limit]
        )
        if not events:
            return 0
        endpoints = list(
            WebhookEndpoint.objects.filter(enabled=True).values_list("id", "events")
        )
        rows = [
            WebhookDelivery(
                event_id=event_id, endpoint_id=endpoint_id, next_attempt_at=now
            )
            for event_id, kind in events
            for endpoint_id, kinds in endpoints
            if kind in (kinds or [])
        ]
        if connection.vendor == "postgresql":
            _insert_postgresql(rows)
        else:
            WebhookDelivery.objects.bulk_create(
                rows, ignore_conflicts=True, batch_size=1000
            )
        Event.objects.filter(id__in=[e for e, _k in events]).update(fanned_out=True)
    return len(events)


def claim(*, limit: int) -> list[int]:
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            WebhookDelivery.objects.filter(
                status=DeliveryStatus.PENDING, next_attempt_at__lte=now
            )
            .order_by("next_attempt_at")
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            WebhookDelivery.objects.filter(
                id__in=ids, status=DeliveryStatus.PENDING
            ).update(status=DeliveryStatus.SENDING, claimed_at=now)
    return ids


def release_stale(*, now=None) -> int:
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.WEBHOOK_CLAIM_TIMEOUT)
    return WebhookDelivery.objects.filter(
        status=DeliveryStatus.SENDING, claimed_at__lt=cutoff
    ).update(status=DeliveryStatus.PENDING, claimed_at=None)


def body_of(event: Event) -> bytes:
    payload = {
        "type": event.type,
        "timestamp": event.created_at.isoformat().replace("+00:00", "Z"),
        "data": event.data,
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def endpoint_secrets(endpoint: WebhookEndpoint, now=None) -> list[str]:
    now = now or timezone.now()
    found = [endpoint.secret]
    if endpoint.previous_secret and (
        endpoint.previous_secret_until and endpoint.previous_secret_until > now
    ):
        found.append(endpoint.previous_secret)
    return found


def _next_delay(attempts: int, outcome: Outcome) -> float | None:
    """Seconds until the next attempt, None when the schedule is spent."""
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    if attempts >= len(schedule):
        return None
    if outcome.retry_after is not None and outcome.status in (429, 503):
        return min(outcome.retry_after, MAX_RETRY_AFTER)
    return schedule[attempts]


def _apply(delivery: WebhookDelivery, outcome: object, now) -> str:
    """Update the row from one attempt; returns "ok", "failed", "gone" or ""."""
    delivery.claimed_at = None
    if outcome is _RELEASE:
        delivery.status = DeliveryStatus.PENDING
        return ""
    if outcome is None:
        delivery.status = DeliveryStatus.SKIPPED
        delivery.last_error = gettext_noop("The endpoint is disabled.")[:255]
        return ""
    assert isinstance(outcome, Outcome)
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = outcome.status
    delivery.last_duration_ms = outcome.duration_ms
    delivery.last_error = outcome.error[:255]
    if outcome.status is not None and 200 <= outcome.status < 300:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
        return "ok"
    if outcome.status == 410:
        delivery.status = DeliveryStatus.FAILED
        return "gone"
    delay = _next_delay(delivery.attempts, outcome)
    if delay is None:
        delivery.status = DeliveryStatus.FAILED
    else:
        delivery.status = DeliveryStatus.PENDING
        delivery.next_attempt_at = now + timedelta(seconds=delay)
    return "failed"


def _disable(ids: set[int], reason: str, now) -> None:
    for endpoint in WebhookEndpoint.objects.filter(id__in=ids, enabled=True):
        with transaction.atomic():
            changed = WebhookEndpoint.objects.filter(
                pk=endpoint.pk, enabled=True
            ).update(enabled=False, disabled_at=now, disabled_reason=reason[:255])
            if changed:
                audit_record(
                    actor=None,
                    action=AUDIT_WEBHOOK,
                    target=endpoint,
                    before={"enabled": True},
                    after={"enabled": False},
                    reason=reason,
                )
                logger.warning("webhook endpoint %s disabled: %s", endpoint.pk, reason)
    forget_subscriptions()


def _endpoints_update(kinds: dict[str, set[int]], now) -> None:
    ok, failed, gone = kinds["ok"], kinds["failed"] - kinds["ok"], kinds["gone"]
    if ok:
        WebhookEndpoint.objects.filter(id__in=ok, failing_since__isnull=False).update(
            failing_since=None
        )
    if failed:
        WebhookEndpoint.objects.filter(
            id__in=failed, failing_since__isnull=True
        ).update(failing_since=now)
        cutoff = now - timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER)
        stale = set(
            WebhookEndpoint.objects.filter(
                id__in=failed, enabled=True, failing_since__lte=cutoff
            ).values_list("id", flat=True)
        )
        if stale:
            _disable(stale, gettext_noop("Every delivery failed for too long."), now)
    if gone:
        _disable(gone, gettext_noop("The receiver answered 410 Gone."), now)


def _insert_postgresql(rows: list[WebhookDelivery]) -> None:
    """The new deliveries as arrays, one short statement: bulk_create's
    thousand-row VALUES costs more to build and parse than to run."""
    if not rows:
        return
    q = connection.ops.quote_name
    table = q(WebhookDelivery._meta.db_table)
    sql = (
        f"INSERT INTO {table} ({q('event_id')}, {q('endpoint_id')}, {q('status')}, "  # noqa: S608
        f"{q('attempts')}, {q('next_attempt_at')}, {q('last_error')}) "
        "SELECT e, p, %s, 0, %s, '' FROM unnest(%s::bigint[], %s::bigint[]) AS r(e, p) "
        "ON CONFLICT DO NOTHING"
    )
    params = [
        DeliveryStatus.PENDING.value,
        rows[0].next_attempt_at,
        [r.event_id for r in rows],
        [r.endpoint_id for r in rows],
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _write_back(deliveries: list[WebhookDelivery]) -> None:
    """The batch's results in one statement on PostgreSQL (UPDATE … FROM
    unnest of one array per column), one UPDATE per row elsewhere: Django's
    bulk_update builds a CASE per field and row, ten times slower here."""
    if not deliveries:
        return
    meta = WebhookDelivery._meta
    q = connection.ops.quote_name
    fields = [meta.get_field(name) for name in _UPDATED]
    table = q(meta.db_table)
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"CAST(%s AS {_array_type(f)})" for f in [meta.pk, *fields])
        names = ", ".join(q(f.column) for f in fields)
        sets = ", ".join(f"{q(f.column)} = v.{q(f.column)}" for f in fields)
        sql = (
            f"UPDATE {table} AS t SET {sets} FROM unnest({arrays}) "  # noqa: S608
            f"AS v({q('id')}, {names}) WHERE t.{q('id')} = v.{q('id')}"
        )
        params = [
            [getattr(d, f.attname) for d in deliveries] for f in [meta.pk, *fields]
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        return
    rows = [
        [f.get_db_prep_save(getattr(d, f.attname), connection) for f in fields] + [d.pk]
        for d in deliveries
    ]
    columns = ", ".join(f"{q(f.column)} = %s" for f in fields)
    sql = f"UPDATE {table} SET {columns} WHERE {q('id')} = %s"  # noqa: S608
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _array_type(field: object) -> str:
    kind = field.db_type(connection)  # type: ignore[attr-defined]
    if kind.startswith("varchar"):
        kind = "text"
    if kind == "bigserial":
        kind = "bigint"
    return f"{kind}[]"


def send_batch(ids: list[int], sender: Sender) -> int:
    """Send the claimed deliveries; returns how many were delivered."""
    deliveries = list(
        WebhookDelivery.objects.filter(id__in=ids, status=DeliveryStatus.SENDING)
        .select_related("event", "endpoint")
        .order_by("id")
    )
    bodies: dict[int, bytes] = {}
    for delivery in deliveries:
        if delivery.event_id not in bodies:
            bodies[delivery.event_id] = body_of(delivery.event)
    now = timezone.now()
    # Past half the claim timeout, what is left goes back unsent rather than
    # risk the sweep handing it to another worker while we still hold it.
    stop_at = time.monotonic() + settings.WEBHOOK_CLAIM_TIMEOUT / 2

    def one(delivery: WebhookDelivery) -> object:
        endpoint = delivery.endpoint
        if not endpoint.enabled:
            return None
        if time.monotonic() > stop_at:
            return _RELEASE
        body = bodies[delivery.event_id]
        headers = signing.headers(
            endpoint_secrets(endpoint, now),
            delivery.event.message_id,
            int(time.time()),
            body,
        )
        return sender.post(endpoint.url, body, headers)

    with ThreadPoolExecutor(max_workers=settings.WEBHOOK_CONCURRENCY) as pool:
        outcomes = list(pool.map(one, deliveries))
    done = timezone.now()
    kinds: dict[str, set[int]] = {"ok": set(), "failed": set(), "gone": set()}
    for delivery, outcome in zip(deliveries, outcomes, strict=True):
        kind = _apply(delivery, outcome, done)
        if kind:
            kinds[kind].add(delivery.endpoint_id)
    _write_back(deliveries)
    _endpoints_update(kinds, done)
    return sum(1 for d in deliveries if d.status == DeliveryStatus.DELIVERED)


def deliver_pending(*, max_seconds: float = 50.0, linger: float = LINGER) -> int:
    """Fan out and send until nothing is due for ``linger`` seconds."""
    sender = Sender()
    delivered = 0
    deadline = time.monotonic() + max_seconds
    idle_since: float | None = None
    try:
        while time.monotonic() < deadline:
            fanned = fan_out()
            ids = claim(limit=settings.WEBHOOK_BATCH_SIZE)
            if ids:
                delivered += send_batch(ids, sender)
            if fanned or ids:
                idle_since = None
                continue
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= linger:
                break
            time.sleep(0.05)
    finally:
        sender.close()
    return delivered


def sweep() -> int:
    """The periodic task: take back killed workers' claims, send what is due."""
    release_stale()
    return deliver_pending(linger=0.0)
