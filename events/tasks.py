"""Celery tasks of the webhooks (thin: the work is in delivering.py)."""

from __future__ import annotations

from celery import shared_task

from events import delivering


@shared_task(name="events.deliver", bind=True, ignore_result=True, expires=60)
def deliver(self) -> int:  # type: ignore[no-untyped-def]
    """Nudged after a commit that wrote events. Run eagerly (tests, no
    broker) it does not linger inside the caller's request."""
    linger = 0.0 if self.request.is_eager else delivering.LINGER
    return delivering.deliver_pending(linger=linger)


@shared_task(name="events.sweep", ignore_result=True)
def sweep() -> int:
    return delivering.sweep()
