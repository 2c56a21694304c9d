"""Riding out a database outage of a few seconds inside a worker.

A send task that met a database error used to fail: Celery acknowledged its
message, so its rows waited for the lease or the sweeper (minutes), and a
message the SMTP server had just accepted was never recorded as sent, so it
went out again later. Here the worker waits for the database instead (a
restart, a failover, connections ended by an administrator): it closes the
broken connection, sleeps a little longer each time and tries again, for at
most SEND_DB_OUTAGE_WAIT seconds. Past that it gives up, and the claim
timeout and the lease (dispatch.py) bring the rows back as for a dead worker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Lost connections, refused connections, a server shutting down. Not
# IntegrityError or ProgrammingError: those are bugs and fail the same way
# every time.
DB_OUTAGE_ERRORS: tuple[type[DatabaseError], ...] = (OperationalError, InterfaceError)
_FIRST_PAUSE = 0.2
_LONGEST_PAUSE = 3.0


def outage_wait() -> float:
    return float(getattr(settings, "SEND_DB_OUTAGE_WAIT", 60.0))


def connection_drop() -> None:
    """Forget a broken connection so that the next query opens a new one."""
    try:
        connection.close()
    except Exception:  # closing a dead connection may fail: it is gone anyway
        logger.debug("closing the broken database connection failed", exc_info=True)


def through_outage(work: Callable[[], T], *, what: str) -> T:
    """``work()``, run again after a database error until it succeeds or
    SEND_DB_OUTAGE_WAIT has passed (then the last error is raised).

    ``work`` must be safe to run again: every write of the pipeline is a
    conditional UPDATE, so running one twice changes nothing the second time.
    """
    deadline = time.monotonic() + outage_wait()
    pause = _FIRST_PAUSE
    while True:
        try:
            return work()
        except DB_OUTAGE_ERRORS as exc:
            if connection.in_atomic_block or time.monotonic() + pause > deadline:
                raise
            logger.warning(
                "database unavailable (%s), %s again in %.1fs", exc, what, pause
            )
            connection_drop()
            time.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE)
