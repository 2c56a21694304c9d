"""The PostgreSQL path's planning: the same decisions as ``_Planner``
(planning.py, the SQLite path and the reference), made row by row as the
file streams by, holding a lean copy of the directory and no row of the file.

Why: ``_Planner`` keeps every employee as a tuple of their values and every
valid row as a ``Row`` until the end, about 2.2 KB a row: 689 MB for a
300,000-row re-import. Here the directory is three dictionaries (address key
and HR id to id; id to a hash of the compared values, HR id and manager), and
each row is decided when read and, when it creates or changes someone,
written to a temporary file (``staged.Spill``) that ``staged.apply`` COPYs
into PostgreSQL. Only a row whose manager is not known yet (neither in the
directory nor earlier in the file) waits for the end of the file.

The hash: Python's 64-bit hash of the compared values, computed in this
process for both sides; two different sets of values with the same hash
(about one chance in 10^13 for a 300,000-row directory) would leave that
row unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from operator import itemgetter
from typing import Any

from django.db import connection
from django.utils.translation import gettext as _

from employees.importing.matching import match
from employees.importing.snapshot import _sql_names
from employees.importing.staged import CLEAR, EXISTING, KEEP, NEW, Spill
from employees.importing.validating import Row, _Validator
from employees.importing.writing import NewRows

# Rows of the directory received at a time: one plain query, streamed in
# chunks (bounded memory without a server-side cursor, which a pooler in
# transaction mode refuses).
DIRECTORY_BATCH = 2_000


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple]:
    """A function from a mapping (or a tuple, given positions) to the tuple
    of those items, in C; KeyError when one is missing."""
    if len(names) >= 2:
        return itemgetter(*names)
    if names:
        name = names[0]
        return lambda values: (values[name],)
    return lambda values: ()


class Directory:
    """The employees as an import compares against them, loaded once."""

    def __init__(self, compared: tuple[str, ...]) -> None:
        # Compared values hashed together: the file's columns but the HR id
        # (blank in some rows, where it keeps the directory's value).
        self.compared = compared
        self.by_key: dict[str, int] = {}
        self.by_hr_id: dict[str, int] = {}
        # id -> (hash of email and compared values, or None when inactive;
        # HR id; manager's id)
        self.info: dict[int, tuple[int | None, str, int | None]] = {}
        self.active_total = 0

    def load(self) -> None:
        table, col = _sql_names()
        names = ("id", "email", "hr_id", "manager", "is_active", *self.compared)
        sql = (
            f"SELECT {', '.join(col[name] for name in names)} FROM {table} "  # noqa: S608
            f"ORDER BY {col['id']}"
        )
        values = _getter(tuple(range(5, 5 + len(self.compared))))
        by_key, by_hr_id, info = self.by_key, self.by_hr_id, self.info
        active_total = 0
        with connection.cursor() as cursor:
            # Streamed DIRECTORY_BATCH rows at a time: bounded memory, and
            # PostgreSQL sends the next rows while these are hashed.
            for row in cursor.cursor.stream(sql, size=DIRECTORY_BATCH):
                pk, email, hr_id, manager_id, active = row[:5]
                by_key[email.lower()] = pk
                if hr_id:
                    by_hr_id[hr_id] = pk
                if active:
                    active_total += 1
                    info[pk] = (hash((email, values(row))), hr_id, manager_id)
                else:
                    info[pk] = (None, hr_id, manager_id)
        self.active_total = active_total


class StreamingPlanner:
    """``_Planner``'s decisions, row by row; the rows to write go to
    ``spill``, the counts to ``plan``."""

    def __init__(
        self,
        plan: Any,
        directory: Directory,
        *,
        sync: bool,
        new_rows: NewRows | None = None,
    ) -> None:
        self.plan = plan
        self.sync = sync
        self.directory = directory
        # Bound once: these are read for every row.
        self.by_key, self.by_hr_id = directory.by_key, directory.by_hr_id
        self.info = directory.info
        self.spill = Spill()
        # When writing: new employees COPYed as decided (``writing``), their
        # ids given when their row is read, by lower-cased address.
        self.new_rows = new_rows
        self.new_ids: dict[str, int] = {}
        # ``matching.match`` bound to this directory (partial: no Python
        # frame of ours a row).
        self._match = partial(
            match,
            by_hr_id=self.by_hr_id,
            by_key=self.by_key,
            hr_id_of=self._hr_id_of,
        )
        self.compared = _getter(directory.compared)
        self.matched: set[int] = set()
        self.file_keys: set[str] = set()
        self.waiting: list[tuple[Row, int | None]] = []
        self.creates = self.updates = 0

    def add(self, row: Row, validator: _Validator) -> None:
        pk = self._match(row, validator)
        if pk is False:
            return
        file_keys = self.file_keys
        file_keys.add(row.key)
        if pk is not None:
            if self.sync:  # only --sync asks who was matched
                self.matched.add(pk)
        elif self.new_rows is not None:
            self.new_ids[row.key] = self.new_rows.new_id()
        key = row.manager_key
        if key and key not in self.by_key:
            if key not in file_keys:
                self.waiting.append((row, pk))  # the manager may come later
                return
            new_rows = self.new_rows
            if (
                new_rows is not None
                and key in self.new_ids
                and key not in new_rows.sent
            ):
                # A new manager not in the table yet (``writing``).
                self.waiting.append((row, pk))
                return
        self._decide(row, pk)

    def _hr_id_of(self, pk: int) -> str:
        return self.info[pk][1]

    def _manager(self, row: Row) -> tuple[int, int | None]:
        key = row.manager_key
        if key is None:
            return KEEP, None
        if not key:
            return CLEAR, None
        pk = self.by_key.get(key)
        return (EXISTING, pk) if pk is not None else (NEW, None)

    def _decide(self, row: Row, pk: int | None) -> None:
        manager = self._manager(row)
        if pk is None:
            self.creates += 1
            if self.new_rows is None:
                self.spill.add(row, None, manager)
            else:
                self.new_rows.add(row, self.new_ids[row.key], self._new_manager(row))
        elif self._changed(pk, row, manager):
            self.updates += 1
            rekeyed = self.by_key.get(row.key) != pk
            if self.new_rows is not None and manager[0] == NEW:
                # The new manager's id is known: set as an existing one's.
                manager_pk = self.new_ids.get(row.manager_key or "")
                manager = (
                    (CLEAR, None) if manager_pk is None else (EXISTING, manager_pk)
                )
            self.spill.add(row, pk, manager, rekeyed=rekeyed)
        else:
            self.plan.unchanged += 1

    def _new_manager(self, row: Row) -> int | None:
        """The manager id of a new employee: one who exists, or one new in
        the file (``staged``'s rule: a manager whose row changes their
        address is neither, and is not set)."""
        key = row.manager_key
        if not key:
            return None
        pk = self.by_key.get(key)
        return pk if pk is not None else self.new_ids.get(key)

    def _changed(self, pk: int, row: Row, manager: tuple[int, int | None]) -> bool:
        fingerprint, hr_id, manager_id = self.info[pk]
        if fingerprint is None:  # inactive: comes back
            return True
        values = row.values
        try:
            if hash((row.email, self.compared(values))) != fingerprint:
                return True
        except KeyError:  # a compared column missing from this row
            return self._changed_exactly(pk, row)
        if "hr_id" in values and values["hr_id"] != hr_id:
            return True
        mode, manager_pk = manager
        if mode == NEW:  # a manager who is not in the directory yet
            return True
        return mode != KEEP and manager_pk != manager_id  # None for CLEAR

    def _changed_exactly(self, pk: int, row: Row) -> bool:
        """The slow way, for a row without one of the file's columns."""
        table, col = _sql_names()
        names = [name for name in self.directory.compared if name in row.values]
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {col['email']}, {', '.join(col[n] for n in names) or '1'} "  # noqa: S608
                f"FROM {table} WHERE {col['id']} = %s",
                [pk],
            )
            current = cursor.fetchone()
        wanted = (row.email, *(row.values[name] for name in names))
        if current[: len(wanted)] != wanted:
            return True
        hr_id = row.values.get("hr_id")
        if hr_id is not None and hr_id != self.directory.info[pk][1]:
            return True
        mode, manager_pk = self._manager(row)
        if mode == NEW:
            return True
        return mode != KEEP and manager_pk != self.directory.info[pk][2]

    def finish(self, validator: _Validator) -> None:
        """Rows that waited for their manager, in file order; then whom
        ``--sync`` deactivates."""
        label = validator.labels.get("manager", "manager")
        if self.new_rows is not None:
            self.new_rows.last_rows()
        for row, pk in self.waiting:
            if row.manager_key not in self.file_keys:
                validator.warn(
                    row.line,
                    label,
                    _(
                        "Manager %(email)s is neither in the file nor in the directory; manager left unchanged."
                    )
                    % {"email": row.manager_key},
                )
                row.manager_key = None
            self._decide(row, pk)
        self.waiting = []
        if self.sync:
            self.plan.deactivate_ids = sorted(self._absent())

    def _absent(self) -> Iterator[int]:
        """As ``_Planner._absent``: active, not matched, not named."""
        mentioned = self.plan.mentioned
        info = self.directory.info
        for key, pk in self.directory.by_key.items():
            fingerprint, hr_id, _manager = info[pk]
            if fingerprint is None or pk in self.matched:
                continue
            hr_key = hr_id.lower()
            if hr_key and hr_key in mentioned:
                continue
            if key not in mentioned:
                yield pk
