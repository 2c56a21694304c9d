"""What a re-import decides row by row, as the file streams by (PostgreSQL)
or at the end (SQLite): the same on both, whatever the order of the rows."""

from __future__ import annotations

import io

import pytest

from employees import importing
from employees.importing import run_import
from employees.models import Employee

pytestmark = pytest.mark.django_db


def _file(text: str) -> io.BytesIO:
    return io.BytesIO(text.encode("utf-8"))


def test_a_manager_named_before_their_own_row_is_linked():
    text = (
        "email,manager\n"
        "dev@example.com,lead@example.com\n"
        "lead@example.com,boss@example.com\n"
        "boss@example.com,\n"
    )
    result = run_import(_file(text))
    assert (result.created, result.warnings) == (3, [])
    dev = Employee.objects.get(email="dev@example.com")
    assert dev.manager.email == "lead@example.com"
    assert dev.manager.manager.email == "boss@example.com"


def test_an_unknown_manager_is_warned_about_in_file_order_and_left_as_it_was():
    boss = Employee.objects.create(email="boss@example.com")
    Employee.objects.create(email="ann@example.com", manager=boss, department="IT")
    text = (
        "email,manager,department,language\n"
        "ann@example.com,ghost@example.com,IT,en\n"
        "bob@example.com,phantom@example.com,IT,Klingon\n"
    )
    result = run_import(_file(text))
    assert [(w.line, w.column) for w in result.warnings] == [
        (3, "language"),
        (2, "manager"),
        (3, "manager"),
    ]
    assert Employee.objects.get(email="ann@example.com").manager == boss
    assert Employee.objects.get(email="bob@example.com").manager is None


def test_a_new_manager_or_a_cleared_one_is_a_change_and_the_same_one_is_not():
    boss = Employee.objects.create(email="boss@example.com")
    Employee.objects.create(email="a@example.com", manager=boss)
    Employee.objects.create(email="b@example.com", manager=boss)
    Employee.objects.create(email="c@example.com", manager=boss)
    text = (
        "email,manager\n"
        "a@example.com,BOSS@example.com\n"
        "b@example.com,\n"
        "c@example.com,newboss@example.com\n"
        "newboss@example.com,\n"
    )
    result = run_import(_file(text))
    assert (result.created, result.updated, result.unchanged) == (1, 2, 1)
    managers = dict(
        Employee.objects.values_list("email", "manager__email").order_by("email")
    )
    assert managers["a@example.com"] == "boss@example.com"
    assert managers["b@example.com"] is None
    assert managers["c@example.com"] == "newboss@example.com"


def test_a_blank_hr_id_is_not_a_change_and_a_different_one_is_an_error():
    Employee.objects.create(email="ann@example.com", hr_id="7", department="IT")
    same = run_import(_file("email,id,department\nann@example.com,,IT\n"))
    assert (same.updated, same.unchanged) == (0, 1)
    other = run_import(_file("email,id,department\nann@example.com,8,IT\n"))
    assert [(e.line, e.column) for e in other.errors] == [(2, "id")]
    assert Employee.objects.get().hr_id == "7"


def test_a_plan_written_later_writes_what_it_counted():
    Employee.objects.create(email="old@example.com", hr_id="1", department="IT")
    text = (
        "id,email,department,manager\n"
        "1,new@example.com,Legal,lead@example.com\n"
        "2,lead@example.com,Legal,\n"
    )
    plan = importing.analyse_file(_file(text))
    assert (len(plan.creates), len(plan.updates), plan.unchanged) == (1, 1, 0)
    assert Employee.objects.count() == 1
    importing.apply_plan(plan)
    moved = Employee.objects.get(hr_id="1")
    assert (moved.email, moved.department, moved.manager.email) == (
        "new@example.com",
        "Legal",
        "lead@example.com",
    )


# Big enough for the new employees to go to PostgreSQL in several blocks
# while the file is still being read (employees/importing/writing.py).
MANY = 20_000
TEAM = "Department of things that take some room " * 2


def _manager(i: int) -> str:
    """Every tenth person leads the nine after them: four of them, and the
    last, are named after their lead (they go in at once), four before
    (they wait for the end of the file, each for the next)."""
    lead = i - i % 10
    if i == lead:
        return ""
    if i % 10 < 5 or i % 10 == 9:
        return f"p{lead}@example.com"
    return f"p{i + 1}@example.com"


def _many(extra: str = "") -> io.BytesIO:
    """MANY new people (``_manager``), two who manage each other, then
    ``extra``."""
    lines = ["email,department,manager"]
    lines += [f"p{i}@example.com,{TEAM},{_manager(i)}" for i in range(MANY)]
    lines.append("x@example.com,,y@example.com")
    lines.append("y@example.com,,x@example.com")
    return _file("\n".join(lines) + "\n" + extra)


def test_a_large_file_links_every_manager_named_earlier_later_or_in_a_cycle():
    result = run_import(_many())
    assert (result.created, result.error_count, result.warnings) == (MANY + 2, 0, [])
    managers = dict(Employee.objects.values_list("email", "manager__email"))
    for i in range(MANY):
        assert managers[f"p{i}@example.com"] == (_manager(i) or None)
    assert (managers["x@example.com"], managers["y@example.com"]) == (
        "y@example.com",
        "x@example.com",
    )


@pytest.mark.postgres
def test_ids_from_a_sequence_shared_with_other_writers_are_each_used_once():
    """The import takes its new employees' ids from the table's sequence in
    blocks, read back as a span when nobody else took one meanwhile. Other
    writers' ids inside a block (simulated: a sequence counting by 3) must
    not make the import reuse or invent one."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence('employees_employee', 'id')")
        sequence = cursor.fetchone()[0]
        cursor.execute(f"ALTER SEQUENCE {sequence} INCREMENT BY 3")
    result = run_import(_many())
    assert (result.created, result.error_count) == (MANY + 2, 0)
    ids = list(Employee.objects.values_list("id", flat=True))
    assert len(set(ids)) == MANY + 2
    assert {pk % 3 for pk in ids} == {ids[0] % 3}  # every one from the sequence
    managers = dict(Employee.objects.values_list("email", "manager__email"))
    assert all(
        managers[f"p{i}@example.com"] == (_manager(i) or None) for i in range(MANY)
    )


def test_an_existing_employee_gets_a_new_manager_named_later_in_the_file():
    Employee.objects.create(email="ann@example.com", department="IT")
    text = (
        "email,department,manager\n"
        "ann@example.com,IT,lead@example.com\n"
        "lead@example.com,IT,\n"
    )
    result = run_import(_file(text))
    assert (result.created, result.updated) == (1, 1)
    ann = Employee.objects.get(email="ann@example.com")
    assert ann.manager.email == "lead@example.com"


def test_a_file_refused_after_many_rows_writes_nothing(settings):
    settings.IMPORT_MAX_COLUMNS = 10
    Employee.objects.create(email="old@example.com")
    with pytest.raises(importing.ImportFileError) as refused:
        run_import(_many(extra="z@example.com" + ",a" * 20 + "\n"))
    assert refused.value.line == MANY + 4
    assert list(Employee.objects.values_list("email", flat=True)) == ["old@example.com"]


def test_a_row_error_after_many_rows_writes_nothing_unless_told_to_skip_it():
    refused = run_import(_many(extra="not-an-address,,\n"))
    assert (refused.written, refused.error_count) == (False, 1)
    assert [(e.line, e.column) for e in refused.errors] == [(MANY + 4, "email")]
    assert not Employee.objects.exists()
    skipped = run_import(_many(extra="not-an-address,,\n"), skip_invalid=True)
    assert (skipped.written, skipped.created) == (True, MANY + 2)
    assert Employee.objects.count() == MANY + 2


def test_a_check_refusing_the_plan_writes_nothing():
    def refuse(plan: importing.Plan) -> None:
        raise importing.ImportFileError("refused")

    with pytest.raises(importing.ImportFileError):
        run_import(_many(), check=refuse)
    assert not Employee.objects.exists()
    # And the next import is not disturbed by the one rolled back.
    assert run_import(_many()).created == MANY + 2
    linked = Employee.objects.filter(manager__isnull=False).count()
    assert linked == MANY - MANY // 10 + 2


def test_names_with_backslashes_tabs_and_line_breaks_are_stored_as_written(
    settings,
):
    text = (
        "email,first name,last name,department\n"
        'a@example.com,"Jo\\\\hn","Mc\tDonald","R&D\nParis"\n'
        "b@example.com,\\N,,\n"
    )
    result = run_import(_file(text))
    assert (result.created, result.errors) == (2, [])
    a = Employee.objects.get(email="a@example.com")
    assert (a.first_name, a.last_name, a.department) == (
        "Jo\\\\hn",
        "Mc\tDonald",
        "R&D\nParis",
    )
    b = Employee.objects.get(email="b@example.com")
    assert (b.first_name, b.last_name) == ("\\N", "")
    assert b.language == settings.LANGUAGE_CODE


def test_the_interpreter_gets_its_own_switch_interval_back_written_or_refused(
    settings,
):
    """The writing thread's quicker GIL hand-over is for the import only: a
    worker process goes on to other tasks at Python's own pace."""
    import sys

    before = sys.getswitchinterval()
    assert run_import(_many()).created == MANY + 2
    assert sys.getswitchinterval() == before
    settings.IMPORT_MAX_COLUMNS = 10
    with pytest.raises(importing.ImportFileError):
        run_import(_many(extra="z@example.com" + ",a" * 20 + "\n"))
    assert sys.getswitchinterval() == before
