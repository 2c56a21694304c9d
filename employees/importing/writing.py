"""PostgreSQL, when an import is to be written: the new employees COPYed
straight into their table while the rest of the file is still being read
and checked (``NewRows``), inside the import's transaction.

Why: reading and checking a first import of 100,000 rows takes about 1.3 s
of Python, and inserting them about as long in PostgreSQL (the table's four
indexes, the manager foreign key); one after the other they held a first
import to about 37,000 rows/s on the 2-core reference machine. Here the rows
go in blocks (about 120 rows at first, doubling up to about 4,000:
``_FIRST_BLOCK_CHARS``), each its own COPY statement run by a worker
thread on the same connection (psycopg serialises the connection's use and
releases the GIL while it waits on the socket), so that the database inserts
and checks one block while Python reads the next.

Each new employee gets their id from the table's own sequence when their
row is read, in blocks (``nextval`` a block at a time, from a few hundred up
to ``_MOST_IDS``, the next asked for when half of one is used): a row then
carries its manager's id whatever the order of managers and reports in the
file. Ids left in the last block are not used,
as after a rolled-back import.

The manager foreign key (DEFERRABLE INITIALLY DEFERRED, as Django creates
it) is made IMMEDIATE while the blocks go in, so that each block's checks run
at the end of its own COPY, beside the reading, rather than all at COMMIT. A
row is therefore sent only once its manager is in the table (an employee who
exists, or a new one sent before): the others wait for the end of the file
(``streaming``), where they go in with the key DEFERRED again (reporting
cycles inside the file). An error anywhere, a refused file or a refused check
roll the whole transaction back: nothing of the rows COPYed stays.
"""

from __future__ import annotations

import sys
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import TypeVar

from django.conf import settings
from django.db import connection

from employees.importing.snapshot import _COMPARED, _sql_names
from employees.importing.validating import Row
from employees.models import Employee

T = TypeVar("T")

# COPY's text format escapes these in a value.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# Text in one COPY statement (about 4,000 rows).
_BLOCK_CHARS = 1 << 19
# The first block's text: small (about 120 rows), each next one twice as
# large up to _BLOCK_CHARS. The database is the slower side (about 10 µs a
# row to insert, index and check, against 8 µs to read and check one), so
# the import lasts about as long as the COPYs plus the wait for the first
# block: at 512 K from the start, 30 ms of reading before the database had
# anything to do, a fifth of a 10,000-row first import (69,000 rows/s then,
# 81,000 with this, 99,000 at 100,000 rows either way, on the quiet 2-core
# reference machine).
_FIRST_BLOCK_CHARS = 1 << 14
# Blocks sent and not yet written at most: the reading waits beyond.
_IN_FLIGHT = 3
# Ids fetched from the sequence at a time: the first block small (a
# re-import creates few), each next one four times as large, up to this.
_FIRST_IDS = 256
_MOST_IDS = 32_768
# How often the reading thread, busy in Python, hands the GIL over while the
# rows go in (CPython's default: 5 ms). The worker thread needs it for a
# moment after each wait on the socket, several times a block; at 5 ms a
# hand-over it spent a third of its time waiting for the reading thread to
# let go (a first import of 100,000 rows: 1.85 s at 5 ms, 1.40 s at 0.1 ms
# on the quiet 2-core reference machine). Restored when the rows are in.
_SWITCH_INTERVAL = 0.0001


def _wait(future: Future[T]) -> T:
    """The worker's result; its database error raised here, in the reading
    thread, as Django's (an IntegrityError, as the INSERT would raise)."""
    with connection.wrap_database_errors:
        return future.result()


def _manager_key_name() -> str:
    """The manager foreign key's constraint, as Django named it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.conname FROM pg_constraint c JOIN pg_attribute a "
            "ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
            "WHERE c.conrelid = %s::regclass AND c.contype = 'f' "
            "AND cardinality(c.conkey) = 1 AND a.attname = %s",
            [Employee._meta.db_table, Employee._meta.get_field("manager").column],
        )
        return connection.ops.quote_name(cursor.fetchone()[0])


def _sequence_name() -> str:
    """The sequence giving the employees' ids."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_serial_sequence(%s, %s)",
            [Employee._meta.db_table, Employee._meta.pk.column],
        )
        return cursor.fetchone()[0]


class NewRows:
    """New employees, COPYed into the table as they are decided."""

    def __init__(self, now: datetime) -> None:
        table, col = _sql_names()
        names = (
            "id",
            "email",
            *_COMPARED,
            "manager",
            "is_active",
            "email_status",
            "created_at",
            "updated_at",
        )
        # Names from Employee._meta; the file's values go through COPY, in
        # its text format: tab-separated, \\N for NULL (no manager).
        self.sql = f"COPY {table} ({', '.join(col[name] for name in names)}) FROM STDIN"
        self.lines: list[str] = []
        self.chars = 0
        self.block_chars = _FIRST_BLOCK_CHARS
        self.text_tabs = len(_COMPARED)  # between the address and the rest
        stamp = now.isoformat()
        self.suffix = f"\tt\tok\t{stamp}\t{stamp}\n"
        # A column absent from the file: empty, the language the default.
        self.names = _COMPARED
        self.defaults = tuple(
            settings.LANGUAGE_CODE if name == "language" else "" for name in _COMPARED
        )
        # Keys (lower-cased addresses) of the new employees sent: their
        # reports may go in.
        self.sent: set[str] = set()
        self._ids: list[int] = []  # the next at the end
        self._low = 0
        self._block = _FIRST_IDS
        self._key = _manager_key_name()
        self._sequence = _sequence_name()
        self._set_key("IMMEDIATE")
        connection.ensure_connection()
        self._raw = connection.connection  # psycopg's, usable from a thread
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import")
        self._in_flight: list[Future[None]] = []
        self._next_ids: Future[list[int]] | None = None
        self._switch: float | None = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch, _SWITCH_INTERVAL))

    def _restore_switch(self) -> None:
        if self._switch is not None:
            sys.setswitchinterval(self._switch)
            self._switch = None

    def _set_key(self, mode: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"SET CONSTRAINTS {self._key} {mode}")

    def new_id(self) -> int:
        """The next id for a new employee, in file order. The next block of
        ids is asked for when half of this one is left, queued behind the
        rows being written, so the reading seldom waits for it."""
        ids = self._ids
        if len(ids) <= self._low and self._next_ids is None:
            self._next_ids = self._worker.submit(self._fetch_ids, self._block)
            self._block = min(self._block * 4, _MOST_IDS)
        if not ids:
            assert self._next_ids is not None
            ids.extend(_wait(self._next_ids))
            self._next_ids = None
            self._low = len(ids) // 2
        return ids.pop()

    def _fetch_ids(self, count: int) -> list[int]:
        """In the worker thread: ``count`` ids from the table's sequence,
        highest first (``new_id`` takes them from the end).

        The sequence is named once (``pg_get_serial_sequence`` per row cost
        a catalogue lookup each: 16,384 ids took 60 ms, 13 ms without), and
        the ids come back as their lowest and highest when nobody else took
        one meanwhile: ``count`` distinct values within a span of ``count``
        are that whole span. Otherwise (another session's inserts
        interleaved), the values themselves."""
        with self._raw.cursor() as cursor:
            cursor.execute(
                "SELECT min(v), max(v), CASE WHEN max(v) - min(v) + 1 = count(*) "
                "THEN NULL ELSE array_agg(v ORDER BY v DESC) END "
                "FROM (SELECT nextval(%s::regclass) AS v "
                "FROM generate_series(1, %s)) AS ids",
                [self._sequence, count],
            )
            low, high, scattered = cursor.fetchone()
        return list(range(high, low - 1, -1)) if scattered is None else scattered

    def add(self, row: Row, pk: int, manager_id: int | None) -> None:
        # Joined by hand, in a third of csv.writer's time (the hot path of a
        # first import); escaped only when a value needs it (rare).
        get = row.values.get
        values = (row.email, *map(get, self.names, self.defaults))
        text = "\t".join(values)
        if (
            text.count("\t") != self.text_tabs
            or "\\" in text
            or "\n" in text
            or "\r" in text
        ):
            text = "\t".join(value.translate(_ESCAPES) for value in values)
        tail = "\\N" if manager_id is None else manager_id
        line = f"{pk}\t{text}\t{tail}{self.suffix}"
        self.lines.append(line)
        self.chars += len(line)
        self.sent.add(row.key)
        if self.chars >= self.block_chars:
            self._send()

    def _send(self) -> None:
        data = "".join(self.lines)
        self.lines = []
        self.chars = 0
        self.block_chars = min(self.block_chars * 2, _BLOCK_CHARS)
        if not data:
            return
        in_flight = self._in_flight
        while len(in_flight) >= _IN_FLIGHT:
            _wait(in_flight.pop(0))
        in_flight.append(self._worker.submit(self._copy, data))

    def _copy(self, data: str) -> None:
        """In the worker thread: one block, on the connection's own psycopg
        connection (Django's wrapper belongs to the reading thread)."""
        with self._raw.cursor() as cursor, cursor.copy(self.sql) as copy:
            copy.write(data)

    def _drain(self) -> None:
        while self._in_flight:
            _wait(self._in_flight.pop(0))

    def last_rows(self) -> None:
        """Before the rows that waited for the end of the file: every block
        written, the manager key DEFERRED again (checked at COMMIT)."""
        self._send()
        self._drain()
        self._set_key("DEFERRED")

    def close(self) -> None:
        """Every new employee in the table."""
        self._send()
        self._drain()
        if self._next_ids is not None:
            _wait(self._next_ids)  # not used: like a rolled-back import's
        self._worker.shutdown()
        self._restore_switch()

    def abort(self) -> None:
        """On an error: let the block being written end (its error, if any,
        is not the one reported), then stop; the transaction rolls back."""
        for future in (*self._in_flight, self._next_ids):
            if future is not None:
                future.cancel()
        self._worker.shutdown(wait=True)
        self._in_flight = []
        self._restore_switch()
