"""``emit``: a domain event written to the outbox, in the caller's transaction.

The domains (campaigns, acknowledgements, delivery tracking, imports) call
``emit(type, data)`` next to the change they report, inside its transaction:
the event commits or rolls back with it. After the commit a worker is nudged
(``transaction.on_commit``); the periodic sweep (``events.sweep``) finds
whatever a lost nudge left, so the nudge is only for speed.

Nothing is written when no enabled endpoint subscribes to the type: the
acknowledgement page pays one INSERT only when someone listens. Which types
are subscribed is cached in the process for ``_CACHE_SECONDS`` (a new
endpoint starts receiving within that time in other processes); saving an
endpoint forgets the cache in the process that saved it.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from events.models import Event, WebhookEndpoint

logger = logging.getLogger(__name__)

_CACHE_SECONDS = 2.0
# A nudge at most this often per process: each nudged task lingers longer
# than this after its last piece of work (delivering.LINGER), so an event
# whose nudge was skipped is picked up by the task of the one before it.
NUDGE_EVERY = 0.2

_lock = threading.Lock()
_subscribed: tuple[float, frozenset[str]] = (0.0, frozenset())
_last_nudge = 0.0


def subscribed_types(*, fresh: bool = False) -> frozenset[str]:
    global _subscribed
    at, types = _subscribed
    now = time.monotonic()
    if fresh or now - at > _CACHE_SECONDS:
        found: set[str] = set()
        for events in WebhookEndpoint.objects.filter(enabled=True).values_list(
            "events", flat=True
        ):
            found.update(events or [])
        types = frozenset(found)
        _subscribed = (now, types)
    return types


def forget_subscriptions() -> None:
    global _subscribed
    _subscribed = (0.0, frozenset())


def personal_data_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOK_INCLUDE_PERSONAL_DATA", False))


def nudge() -> None:
    global _last_nudge
    with _lock:
        now = time.monotonic()
        if now - _last_nudge < NUDGE_EVERY:
            return
        _last_nudge = now
    from events.tasks import deliver

    try:
        deliver.delay()
    except Exception:  # the broker is away: the sweep will find the event
        logger.warning("webhook worker not nudged (broker unreachable)")


def emit(type: str, data: dict, *, at=None) -> Event | None:
    """Write an event to the outbox if some enabled endpoint listens to it."""
    if type not in subscribed_types():
        return None
    event = Event.objects.create(type=type, data=data, created_at=at or timezone.now())
    transaction.on_commit(nudge)
    return event


def outbox_statement(type: str, data: dict) -> tuple[str, list] | None:
    """For a change made in one SQL statement (a data-modifying WITH): the
    tail ``INSERT INTO <outbox> (…) SELECT … FROM `` that the caller ends
    with its CTE's name and ``RETURNING id``, and its parameters; the event
    is then written by the same statement, so with no transaction of its own.
    None when no endpoint listens. Call ``nudge_after_commit()`` once it ran."""
    if type not in subscribed_types():
        return None
    connection = connections[DEFAULT_DB_ALIAS]
    q = connection.ops.quote_name
    meta = Event._meta
    fields = [meta.get_field(n) for n in ("message_id", "type", "data", "created_at")]
    fields.append(meta.get_field("fanned_out"))
    event = Event(type=type, data=data)
    columns = ", ".join(q(f.column) for f in fields)
    values = ", ".join(f"CAST(%s AS {f.db_type(connection)})" for f in fields)
    sql = f"INSERT INTO {q(meta.db_table)} ({columns}) SELECT {values} FROM "  # noqa: S608
    params = [f.get_db_prep_save(getattr(event, f.attname), connection) for f in fields]
    return sql, params


def nudge_after_commit() -> None:
    transaction.on_commit(nudge)
