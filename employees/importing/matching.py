"""Matching a row of the file to an employee of the directory: the HR id
first, then the address (``match``). One rule for both planners, the
reference (``planning._Planner``, SQLite) and the streaming one
(``streaming.StreamingPlanner``, PostgreSQL), so that they can never
disagree on who a row is, nor word a conflict differently."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from django.utils.translation import gettext as _

from employees.importing.validating import Row, _Validator


def match(
    row: Row,
    validator: _Validator,
    *,
    by_hr_id: Mapping[str, int],
    by_key: Mapping[str, int],
    hr_id_of: Callable[[int], str],
) -> int | bool | None:
    """The id of the employee ``row`` is, None for a new one, False when the
    HR id and the address name two different people (an error on the row).

    ``by_hr_id``: HR id to id; ``by_key``: lower-cased address to id;
    ``hr_id_of``: the HR id the directory has for an id ("" when none)."""
    hr_id = row.values.get("hr_id")
    by_email = by_key.get(row.key)
    if hr_id and hr_id in by_hr_id:
        pk = by_hr_id[hr_id]
        if by_email is not None and by_email != pk:
            validator.error(
                row.line,
                "email",
                _(
                    "%(email)s belongs to another employee (HR id %(other)s) in the directory."
                )
                % {"email": row.email, "other": hr_id_of(by_email) or "-"},
            )
            return False
        return pk
    if by_email is not None:
        current_hr_id = hr_id_of(by_email)
        if hr_id and current_hr_id and current_hr_id != hr_id:
            validator.error(
                row.line,
                "hr_id",
                _("%(email)s has HR id %(current)s in the directory, not %(given)s.")
                % {"email": row.email, "current": current_hr_id, "given": hr_id},
            )
            return False
        return by_email
    return None
