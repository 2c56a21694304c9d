"""The PostgreSQL path's writing: the plan's rows to create and update,
spilled to a temporary file while the file is read (``Spill``), then COPYed
into a temporary table and written with a few set-based statements
(``apply``) instead of one INSERT or UPDATE per row.

Why: Django's psycopg backend binds parameters on the client, so PostgreSQL
parsed and planned every row's statement, which held a first import to about
16,000 rows/s on the 2-core reference machine; and holding every row to
write as a Python object cost about a kilobyte each. COPY moves the rows at
the database's speed, and the file on disk costs no memory.

What is written is what ``applying`` writes on SQLite: new employees with
their managers (given their ids from the table's sequence first, so one
INSERT carries every manager, reporting cycles included, where SQLite
inserts level by level); updates set the file's columns and keep the
others; everything inside the caller's transaction.
The temporary table is dropped at COMMIT (``ON COMMIT DROP``, which a pooler
in transaction mode allows) and at the end, for a caller whose transaction
goes on.
"""

# Every name and constant put into the SQL below comes from Employee._meta or
# from this module, never from the file: the file's values go through COPY.
# ruff: noqa: S608

from __future__ import annotations

import csv
import tempfile
from typing import IO, Any

from django.conf import settings
from django.db import connection

from employees.importing.snapshot import _COMPARED, _sql_names
from employees.importing.validating import Row
from employees.models import Employee
from employees.signals import AddressChange

# Bit i of ``mask`` says that FIELDS[i] was in the row: a column absent from
# the file, or a blank HR id, keeps the directory's value.
FIELDS = _COMPARED
_LANGUAGE_BIT = 1 << FIELDS.index("language")
_COPY_CHUNK = 1 << 20
# Actions in the written plan.
CREATE, UPDATE = "c", "u"
# Manager of a written row: keep, clear, an employee who exists
# (manager_pk), one new in this file (manager_key, inserted before).
KEEP, CLEAR, EXISTING, NEW = 0, 1, 2, 3

_WRITE_COLUMNS = (
    "line",
    "action",
    "pk",
    "mask",
    "email",
    "key",
    *FIELDS,
    "manager_mode",
    "manager_pk",
    "manager_key",
    "rekeyed",
)
_TEXT_COLUMNS = ("action", "email", "key", *FIELDS, "manager_key")


class Spill:
    """The rows to write, as CSV in a temporary file on disk (not memory: a
    StringIO of non-ASCII text takes 4 bytes a character)."""

    def __init__(self) -> None:
        self.file: IO[str] = tempfile.TemporaryFile(
            mode="w+", encoding="utf-8", newline=""
        )
        self.write = csv.writer(self.file).writerow
        self._masks: dict[tuple[str, ...], int] = {}

    def add(
        self,
        row: Row,
        pk: int | None,
        manager: tuple[int, int | None],
        *,
        rekeyed: bool = False,
    ) -> None:
        """``manager``: (mode, the existing manager's id for EXISTING)."""
        values = row.values
        keys = tuple(values)
        mask = self._masks.get(keys)
        if mask is None:
            mask = sum(1 << i for i, name in enumerate(FIELDS) if name in values)
            self._masks[keys] = mask
        get = values.get
        mode, manager_pk = manager
        self.write(
            (
                row.line,
                UPDATE if pk else CREATE,
                pk,
                mask,
                row.email,
                row.key,
                get("hr_id", ""),
                get("first_name", ""),
                get("last_name", ""),
                get("department", ""),
                get("country", ""),
                get("language", ""),
                get("time_zone", ""),
                mode,
                manager_pk,
                row.manager_key if mode == NEW else "",
                "t" if rekeyed else "f",
            )
        )

    def finish(self) -> IO[str]:
        self.file.flush()
        self.file.seek(0)
        return self.file


def _text_columns(names: tuple[str, ...]) -> str:
    # Keys compared byte for byte: no locale rules.
    return ", ".join(f'{name} text COLLATE "C"' for name in names)


def _load(cursor: Any, staged: IO[str]) -> None:
    cursor.execute(
        f"CREATE TEMP TABLE import_write ({_text_columns(_TEXT_COLUMNS)}, "
        "line integer, pk bigint, mask integer, manager_mode integer, "
        "manager_pk bigint, rekeyed boolean) ON COMMIT DROP"
    )
    staged.seek(0)
    sql = (
        f"COPY import_write ({', '.join(_WRITE_COLUMNS)}) FROM STDIN (FORMAT csv, "
        f"FORCE_NOT_NULL ({', '.join(_TEXT_COLUMNS)}))"
    )
    with cursor.cursor.copy(sql) as copy:
        while data := staged.read(_COPY_CHUNK):
            copy.write(data)


def _new_ids(cursor: Any) -> None:
    """An id for every new employee, in file order, from the table's own
    sequence: each row then carries its manager's id in a single INSERT,
    whatever the order of managers and reports in the file (the manager
    foreign key is checked at COMMIT: Django creates it DEFERRABLE
    INITIALLY DEFERRED), reporting cycles included."""
    cursor.execute(
        "CREATE TEMP TABLE import_ids ON COMMIT DROP AS "
        f"SELECT key, nextval(pg_get_serial_sequence(%s, %s)) AS id FROM "
        f"(SELECT key FROM import_write WHERE action = '{CREATE}' ORDER BY line) w",
        [Employee._meta.db_table, Employee._meta.pk.column],
    )


def _new_manager_join() -> str:
    """The new employee a row names as manager (an employee who exists is
    ``manager_pk``). A manager whose row changes their address is neither:
    ``applying``'s ids know them by their old address, so they are not set,
    on either path."""
    return f"LEFT JOIN import_ids m ON w.manager_mode = {NEW} AND m.key = w.manager_key"


def _insert(cursor: Any, now: Any) -> None:
    table, col = _sql_names()
    names = ["id", "email", *FIELDS, "manager", "is_active", "email_status"]
    values = [
        "i.id",
        "w.email",
        *(
            f"CASE WHEN w.mask & {_LANGUAGE_BIT} <> 0 THEN w.language ELSE %s END"
            if name == "language"
            else f"w.{name}"
            for name in FIELDS
        ),
        f"CASE w.manager_mode WHEN {EXISTING} THEN w.manager_pk "
        f"WHEN {NEW} THEN m.id END",
        "true",
        "'ok'",
    ]
    _new_ids(cursor)
    cursor.execute(
        f"INSERT INTO {table} ({', '.join(col[n] for n in names)}, "
        f"{col['created_at']}, {col['updated_at']}) "
        f"SELECT {', '.join(values)}, %s, %s FROM import_write w "
        f"JOIN import_ids i ON i.key = w.key {_new_manager_join()} "
        f"WHERE w.action = '{CREATE}'",
        [settings.LANGUAGE_CODE, now, now],
    )


def _update(cursor: Any, now: Any, *, creates: bool) -> None:
    table, col = _sql_names()
    fields = ", ".join(
        f"{col[name]} = CASE WHEN w.mask & {1 << i} <> 0 THEN w.{name} "
        f"ELSE e.{col[name]} END"
        for i, name in enumerate(FIELDS)
    )
    manager = (
        f"CASE w.manager_mode WHEN {KEEP} THEN e.{col['manager']} "
        f"WHEN {EXISTING} THEN w.manager_pk "
        f"WHEN {NEW} THEN {'m.id' if creates else 'NULL'} END"
    )
    cursor.execute(
        f"UPDATE {table} e SET {col['email']} = w.email, {fields}, "
        f"{col['manager']} = {manager}, {col['is_active']} = true, "
        f"{col['deactivated_at']} = NULL, {col['updated_at']} = %s "
        f"FROM import_write w {_new_manager_join() if creates else ''} "
        f"WHERE w.action = '{UPDATE}' AND e.{col['id']} = w.pk",
        [now],
    )


def _address_changes(cursor: Any) -> list[AddressChange]:
    """Employees matched by HR id under another address (read before the
    UPDATE): their address changed other than in case."""
    table, col = _sql_names()
    cursor.execute(
        f"SELECT w.pk, w.email, e.{col['email']} FROM import_write w "
        f"JOIN {table} e ON e.{col['id']} = w.pk "
        f"WHERE w.action = '{UPDATE}' AND w.rekeyed ORDER BY w.line"
    )
    return [
        AddressChange(pk, email, previous)
        for pk, email, previous in cursor.fetchall()
        if previous.lower() != email.lower()
    ]


def apply(
    staged: IO[str] | None, now: Any, *, creates: bool, updates: bool
) -> list[AddressChange]:
    """Write the spilled rows (inside the caller's transaction); the
    address changes to announce."""
    if staged is None or not (creates or updates):
        return []
    with connection.cursor() as cursor:
        # Hash joins of a few hundred thousand keys stay in memory; no JIT
        # for statements that run once (compiling took longer than running).
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute("SET LOCAL jit = off")
        # Hash joins whatever the estimates (the directory's statistics may
        # predate the rows just inserted): a nested loop over a misjudged
        # "1 row" would scan the table once per row.
        cursor.execute("SET LOCAL enable_nestloop = off")
        _load(cursor, staged)
        changes = _address_changes(cursor) if updates else []
        if creates:
            _insert(cursor, now)
        if updates:
            _update(cursor, now, creates=creates)
        cursor.execute(
            "DROP TABLE import_write, import_ids"
            if creates
            else "DROP TABLE import_write"
        )
    return changes
