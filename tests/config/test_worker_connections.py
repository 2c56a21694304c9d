"""Workers keep their database connection between tasks as web requests do.

Celery's Django fixup would close it around every task (a new PostgreSQL
connection per chunk of messages); config/celery.py applies Django's own
rule instead: DATABASE_CONN_MAX_AGE, and a broken connection is dropped.
"""

from __future__ import annotations

import pytest
from celery import signals
from django.db import connection

from config.celery import app, ping


def _closable() -> None:
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("Django never closes an in-memory SQLite database")


def _fresh_connection(monkeypatch, max_age: int) -> object:
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", max_age)
    connection.close()
    connection.ensure_connection()
    return connection.connection


def _task_ends() -> None:
    signals.task_postrun.send(sender=ping, task_id="t", task=ping, args=(), kwargs={})


def test_celery_is_told_not_to_close_connections_itself():
    assert app.conf.get("CELERY_DB_REUSE_MAX") >= 10**9


@pytest.mark.django_db(transaction=True)
def test_a_connection_is_kept_between_tasks_within_its_max_age(monkeypatch):
    kept = _fresh_connection(monkeypatch, 60)
    _task_ends()
    assert connection.connection is kept


@pytest.mark.django_db(transaction=True)
def test_a_connection_is_closed_after_a_task_when_max_age_is_zero(monkeypatch):
    _closable()
    _fresh_connection(monkeypatch, 0)
    _task_ends()
    assert connection.connection is None


@pytest.mark.django_db(transaction=True)
def test_a_connection_that_failed_is_dropped_after_the_task(monkeypatch):
    _closable()
    _fresh_connection(monkeypatch, 60)
    connection.errors_occurred = True
    monkeypatch.setattr(connection, "is_usable", lambda: False)
    _task_ends()
    assert connection.connection is None
