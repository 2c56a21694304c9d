"""A database cursor for the few statements run thousands of times.

Django's psycopg cursors bind parameters on the client and are never
prepared: right for the varied ORM queries. The personal link's lookup (per
page) and the sent-message UPDATE (per message) are the same statement every
time, so on PostgreSQL they go through a psycopg cursor that binds on the
server; psycopg then prepares a statement once a connection has run it a few
times (``prepare_threshold``, set from DATABASE_PREPARED_STATEMENTS in
config/settings.py) and PostgreSQL skips parsing and planning it.
"""

from __future__ import annotations

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.utils import CursorWrapper


def cursor_prepared(alias: str = DEFAULT_DB_ALIAS) -> CursorWrapper:
    """A cursor, Django's wrapper included (counted, logged, errors wrapped):
    server-binding on PostgreSQL with prepared statements allowed, Django's
    ordinary cursor otherwise."""
    connection = connections[alias]
    options = connection.settings_dict.get("OPTIONS", {})
    if connection.vendor != "postgresql" or options.get("prepare_threshold") is None:
        return connection.cursor()
    # What BaseDatabaseWrapper.cursor() does, with another cursor class.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = psycopg.Cursor(connection.connection)
    connection.validate_thread_sharing()
    if connection.queries_logged:
        return connection.make_debug_cursor(cursor)
    return connection.make_cursor(cursor)
