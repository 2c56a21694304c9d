"""Planning: which rows of the file create, update or leave alone which
employees, and whom ``--sync`` deactivates (``Plan``, ``_Planner``).
``analyse_file`` reads, validates and plans a whole file, writing nothing
(but when ``run_import`` asks it to write the new employees as they come).

On PostgreSQL the rows are validated here the same way, then decided one by
one as they stream by, against a lean copy of the directory
(``streaming``), the rows to write spilled to a temporary file
(``staged``) or, for the new employees of an import being written, COPYed
at once (``writing``); ``_Planner`` is the SQLite path and the reference
for what both decide; ``matching`` is who a row is, for both."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO

from django.db import connection
from django.utils.translation import gettext as _

from employees.importing import streaming
from employees.importing.matching import match
from employees.importing.reading import ImportFileError, read_table
from employees.importing.snapshot import _COMPARED, _POS, _load_existing
from employees.importing.staged import FIELDS
from employees.importing.validating import Issue, Row, _Validator
from employees.importing.writing import NewRows

PROGRESS_EVERY = 5000

ProgressCallback = Callable[[int, int], None]


@dataclass
class Plan:
    """What an import would do; ``apply_plan`` carries it out.

    A plan made on PostgreSQL (``is_staged``) keeps the rows to write in
    ``staged`` (a temporary file): its ``creates`` and ``updates`` then
    hold one ``None`` a row, for counting."""

    columns: list[str]
    rows_total: int = 0
    creates: list[Row | None] = field(default_factory=list)
    updates: list[tuple[int, Row] | None] = field(default_factory=list)
    unchanged: int = 0
    deactivate_ids: list[int] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    # All of them; the lists keep the first MAX_REPORTED_ISSUES.
    error_count: int = 0
    warning_count: int = 0
    # Every email (lower) and HR id written in the file, valid row or not: an
    # employee whose row has an error is not "absent" for --sync.
    mentioned: set[str] = field(default_factory=set)
    # Employees active when the plan was made: the share --sync deactivates
    # is judged against it (IMPORT_DEACTIVATE_WARN_PERCENT).
    active_total: int = 0
    # State of the directory the plan was made against.
    existing: dict[int, tuple] = field(default_factory=dict, repr=False)
    is_staged: bool = False
    staged: IO[str] | None = field(default=None, repr=False)
    # The new employees are in the table already (``writing``), created at
    # ``written_at``: the plan writes the updates and deactivations.
    new_written: bool = False
    written_at: datetime | None = None

    @property
    def has_errors(self) -> bool:
        return bool(self.error_count or self.errors)


class _Planner:
    def __init__(self, plan: Plan, *, sync: bool) -> None:
        self.plan = plan
        self.sync = sync
        self.existing = plan.existing
        self.by_email = {row[1].lower(): pk for pk, row in self.existing.items()}
        self.by_hr_id = {row[2]: pk for pk, row in self.existing.items() if row[2]}
        self.matched: set[int] = set()
        self.rows: list[Row] = []
        self.file_keys: set[str] = set()

    def add(self, row: Row, validator: _Validator) -> None:
        pk = self._match(row, validator)
        if pk is False:
            return
        row.pk = pk
        self.rows.append(row)
        self.file_keys.add(row.key)
        if pk is not None:
            self.matched.add(pk)

    def _match(self, row: Row, validator: _Validator) -> int | bool | None:
        """Primary key of the matched employee, None for a new one, False on error."""
        return match(
            row,
            validator,
            by_hr_id=self.by_hr_id,
            by_key=self.by_email,
            hr_id_of=self._hr_id_of,
        )

    def _hr_id_of(self, pk: int) -> str:
        return self.existing[pk][_POS["hr_id"]]

    def finish(self, validator: _Validator) -> None:
        manager_emails = {pk: row[1].lower() for pk, row in self.existing.items()}
        for row in self.rows:
            self._resolve_manager(row, validator)
            if row.pk is None:
                self.plan.creates.append(row)
            elif self._changed(self.existing[row.pk], row, manager_emails):
                self.plan.updates.append((row.pk, row))
            else:
                self.plan.unchanged += 1
        if self.sync:
            self.plan.deactivate_ids = [
                pk for pk, row in self.existing.items() if self._absent(pk, row)
            ]

    def _absent(self, pk: int, current: tuple) -> bool:
        if not current[_POS["is_active"]] or pk in self.matched:
            return False
        mentioned = self.plan.mentioned
        hr_id = current[_POS["hr_id"]].lower()
        if hr_id and hr_id in mentioned:
            return False
        return current[_POS["email"]].lower() not in mentioned

    def _resolve_manager(self, row: Row, validator: _Validator) -> None:
        key = row.manager_key
        if not key or key in self.file_keys or key in self.by_email:
            return
        validator.warn(
            row.line,
            validator.labels["manager"],
            _(
                "Manager %(email)s is neither in the file nor in the directory; manager left unchanged."
            )
            % {"email": key},
        )
        row.manager_key = None

    def _changed(
        self, current: tuple, row: Row, manager_emails: dict[int, str]
    ) -> bool:
        if not current[_POS["is_active"]] or current[_POS["email"]] != row.email:
            return True
        for name in _COMPARED:
            if name in row.values and current[_POS[name]] != row.values[name]:
                return True
        if row.manager_key is None:
            return False
        current_manager = current[_POS["manager_id"]]
        return (
            manager_emails.get(current_manager) if current_manager else ""
        ) != row.manager_key


def analyse_file(
    binary: IO[bytes],
    *,
    sync: bool = False,
    progress: ProgressCallback | None = None,
    write_new_at: datetime | None = None,
) -> Plan:
    """Read and validate the whole file and plan the changes. Writes nothing,
    unless ``write_new_at`` is given on PostgreSQL (``run_import``, inside
    its transaction, without ``progress``, whose writes the connection's
    COPY would hold back): the new employees are then written as they are
    read, created at ``write_new_at``, and the plan writes the rest."""
    rows, estimated = read_table(binary)
    plan = Plan(columns=[])
    try:
        header_line, headers = next(rows)
    except StopIteration:
        raise ImportFileError(_("The file has no header row.")) from None
    validator = _Validator(header_line, headers, plan, sync=sync)
    if connection.vendor == "postgresql":
        return _analyse_streaming(
            plan, validator, rows, estimated, sync, progress, write_new_at
        )
    plan.existing = _load_existing()
    active = _POS["is_active"]
    plan.active_total = sum(1 for row in plan.existing.values() if row[active])
    planner = _Planner(plan, sync=sync)
    for count, (line, cells) in enumerate(rows, start=1):
        row = validator.row(line, cells)
        if row is not None:
            planner.add(row, validator)
        plan.rows_total = count
        if progress and count % PROGRESS_EVERY == 0:
            progress(count, max(estimated - 1, count))
    planner.finish(validator)
    if progress:
        progress(plan.rows_total, plan.rows_total)
    return plan


def _analyse_streaming(
    plan: Plan,
    validator: _Validator,
    rows: Iterator[tuple[int, list[str]]],
    estimated: int,
    sync: bool,
    progress: ProgressCallback | None,
    write_new_at: datetime | None,
) -> Plan:
    """The PostgreSQL path: each row decided as it is read, the rows to write
    spilled to a temporary file (``streaming``, ``staged``); or, with
    ``write_new_at``, the new employees COPYed into the table at once
    (``writing``)."""
    compared = tuple(
        name for name in FIELDS if name in validator.index and name != "hr_id"
    )
    directory = streaming.Directory(compared)
    directory.load()
    plan.is_staged = True
    plan.active_total = directory.active_total
    new_rows = None if write_new_at is None else NewRows(write_new_at)
    planner = streaming.StreamingPlanner(plan, directory, sync=sync, new_rows=new_rows)
    add = planner.add
    count = 0
    try:
        for count, (line, cells) in enumerate(rows, start=1):
            row = validator.row(line, cells)
            if row is not None:
                add(row, validator)
            if progress and count % PROGRESS_EVERY == 0:
                plan.rows_total = count
                progress(count, max(estimated - 1, count))
        plan.rows_total = count
        planner.finish(validator)
        if new_rows is not None:
            new_rows.close()  # every new employee is in the table
    except BaseException:
        if new_rows is not None:
            new_rows.abort()
        raise
    plan.new_written = new_rows is not None
    plan.written_at = write_new_at
    plan.creates = [None] * planner.creates
    plan.updates = [None] * planner.updates
    plan.staged = planner.spill.finish()
    if progress:
        progress(plan.rows_total, plan.rows_total)
    return plan
