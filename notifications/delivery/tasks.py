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
  carries a lease (``next_attempt_at``); if no worker claimed it in time, a
  tick enqueues it again.
"""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from notifications.delivery.dispatch import dispatch_tick
from notifications.delivery.send import deliveries_send


def enqueue_chunk(delivery_ids: list[int]) -> None:
    send_chunk.apply_async(args=[delivery_ids])


@shared_task(name="notifications.dispatch", ignore_result=True)
def dispatch() -> dict:
    """Beat's tick: due steps → Delivery rows → chunks for the workers."""
    return asdict(dispatch_tick(enqueue=enqueue_chunk))


@shared_task(
    name="notifications.send_chunk",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def send_chunk(delivery_ids: list[int]) -> dict:
    return asdict(deliveries_send(delivery_ids))
