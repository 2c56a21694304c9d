"""The directory as an import sees it: the SQL names of Employee's table
and columns (``_sql_names``), and every employee loaded once, as a plain
tuple, to compare the file against (``_load_existing``; fields in
``_EXISTING_FIELDS`` order, positions in ``_POS``). Shared by planning and
applying."""

from __future__ import annotations

from django.db import connection

from employees.models import STAFF_FIELDS, Employee

# The fields of Employee a file can set, besides the address and the
# manager (matched and resolved apart), in the order the import compares and
# writes them: STAFF_FIELDS, the list every staff source shares, without
# those two (``_EXISTING_FIELDS`` below, ``staged.FIELDS`` and
# ``applying._WRITTEN`` are built from it).
_COMPARED = tuple(name for name in STAFF_FIELDS if name not in ("email", "manager_id"))
# Columns of Employee loaded to compare against the file, in this order.
_EXISTING_FIELDS = ("id", "email", *_COMPARED, "manager_id", "is_active")
_POS = {name: position for position, name in enumerate(_EXISTING_FIELDS)}


def _sql_names() -> tuple[str, dict[str, str]]:
    ops = connection.ops
    columns = {f.name: ops.quote_name(f.column) for f in Employee._meta.concrete_fields}
    return ops.quote_name(Employee._meta.db_table), columns


def _load_existing() -> dict[int, tuple]:
    """The directory as tuples in _EXISTING_FIELDS order, read with one plain
    SELECT: values_list() costs ~5 us a row in conversions none of these
    columns need (booleans come back as 0/1 on SQLite; only their truth is
    used)."""
    table, col = _sql_names()
    columns = ", ".join(
        col[name.replace("manager_id", "manager")] for name in _EXISTING_FIELDS
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {table}")  # noqa: S608 (names from _meta)
        return {row[0]: row for row in cursor.fetchall()}
