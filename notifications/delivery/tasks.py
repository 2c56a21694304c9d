"""Celery tasks: thin wrappers around dispatch.dispatch_tick and send.deliveries_send.

Delivery choices, deliberately:

- ``acks_late=True``: the broker message is acknowledged when the task has
  run, not when a worker takes it, so a chunk reserved by a worker that dies
  (kill -9, OOM, machine lost) is delivered again instead of vanishing. A
  second delivery is harmless: the task claims its rows first
  (claim.deliveries_claim) and a duplicate finds nothing left to claim.
- ``reject_on_worker_lost=True``: when the pool child running the task dies,
  requeue the message at once rather than marking it failed. Celery leaves
  this off by default because a message that kills its worker would loop;
  here it cannot: the redelivered task finds its rows already "sending" and
  returns, and only the sweeper (which counts attempts) releases them.
- No retries through Celery (no ``self.retry(countdown=…)``): a transient
  failure puts the row back to "queued" with ``next_attempt_at`` and the next
  dispatcher tick enqueues it. Nothing waits in the broker, so Redis'
  visibility timeout never re-delivers a delayed task (celery#2599).
- The database is also the safety net for lost messages: every enqueued row
  carries a short lease (``next_attempt_at``), renewed by the dispatcher
  while the broker's queue still holds messages (broker_waiting); once the
  queue is empty an unclaimed row's lease runs out and a tick enqueues it
  again (a flushed or restarted broker, a chunk reserved by a killed worker).
- A database error does not fail a send task (its message would be
  acknowledged and its rows left to the lease): send.chunk_send waits for
  the database and carries on (outage.py).
"""

from __future__ import annotations

import logging
from dataclasses import asdict

from celery import current_app, shared_task, signals

from notifications.delivery.dispatch import dispatch_tick
from notifications.delivery.render import locales_load
from notifications.delivery.send import chunk_send

logger = logging.getLogger(__name__)


@signals.worker_init.connect
def _locales_load(**_kwargs: object) -> None:
    """In the worker's main process, before the pool forks (render.locales_load)."""
    locales_load()


def enqueue_chunk(delivery_ids: list[int]) -> None:
    send_chunk.apply_async(args=[delivery_ids])


def broker_waiting() -> int | None:
    """Messages waiting in the send queue (not those a worker reserved).

    A passive declare, answered by every kombu transport (Redis: the list's
    length; the on-disk broker: its files). A queue the broker does not know
    (Redis flushed) holds nothing; a broker that does not answer: unknown.
    """
    app = current_app
    queue = app.conf.task_default_queue
    try:
        with app.connection_for_write() as conn:
            channel = conn.default_channel
            try:
                return channel.queue_declare(queue=queue, passive=True).message_count
            except conn.channel_errors:
                return 0
    except Exception:  # the broker is down: let the leases run out
        logger.warning("the broker's queue length is unknown", exc_info=True)
        return None


@shared_task(name="notifications.dispatch", ignore_result=True)
def dispatch() -> dict:
    """Beat's tick: due steps → Delivery rows → chunks for the workers."""
    return asdict(dispatch_tick(enqueue=enqueue_chunk, waiting=broker_waiting))


@shared_task(
    name="notifications.send_chunk",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def send_chunk(delivery_ids: list[int]) -> dict:
    return asdict(chunk_send(delivery_ids))
