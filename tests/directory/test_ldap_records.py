"""employees.importing.records: records a program already has (LDAP entries)
go through the file import's own rules, and their issues point at them."""

from __future__ import annotations

import pytest

from employees.importing.records import SourceRecord, run_records
from employees.models import Employee

pytestmark = pytest.mark.django_db

COLUMNS = ["email", "first_name", "last_name", "hr_id"]


def _record(n: int, **values: str) -> SourceRecord:
    base = {"email": f"p{n}@example.org", "first_name": f"P{n}", "hr_id": f"E{n}"}
    return SourceRecord(ref=f"uid=p{n},ou=people", values={**base, **values})


def test_each_issue_names_its_record_even_after_a_value_with_line_breaks():
    records = [
        _record(1, last_name="Two\nlines\r\nand more"),
        _record(2, email="p1@example.org"),  # the same address twice
        _record(3, last_name="Nul\x00byte"),
        _record(4, email="not-an-address"),
    ]

    outcome = run_records(
        records, columns=COLUMNS, source="ldap", labels={"email": "mail"}
    )

    result = outcome.result
    assert not result.written and not Employee.objects.exists()
    by_entry = {issue.line: issue for issue in result.errors}
    assert sorted(by_entry) == [2, 3, 4]
    assert by_entry[2].column == "mail"
    # The first one is named by its position in the list too.
    assert by_entry[2].message == (
        "uid=p2,ou=people: The address p1@example.org is already on line 1."
    )
    assert by_entry[3].column == "last name"
    assert "NUL" in by_entry[3].message
    assert by_entry[4].message == (
        "uid=p4,ou=people: “not-an-address” is not a valid email address."
    )


def test_the_valid_records_are_imported_and_stamped_with_their_source():
    Employee.objects.create(email="p9@example.org", source="file")
    records = [_record(1, last_name="Ünïcødé\nName"), _record(2, last_name="Bad\x00")]

    outcome = run_records(records, columns=COLUMNS, source="ldap", skip_invalid=True)

    assert outcome.result.written and outcome.result.created == 1
    person = Employee.objects.get(email="p1@example.org")
    assert person.last_name == "Ünïcødé\nName"
    assert (person.source, person.synced_at is not None) == ("ldap", True)
    assert Employee.objects.get(email="p9@example.org").synced_at is None
    assert not Employee.objects.filter(email="p2@example.org").exists()


def test_a_dry_run_stamps_nobody():
    Employee.objects.create(email="p1@example.org", source="file")

    outcome = run_records([_record(1)], columns=COLUMNS, source="ldap", dry_run=True)

    assert outcome.result.updated == 1
    person = Employee.objects.get()
    assert (person.source, person.synced_at, person.hr_id) == ("file", None, "")


def test_a_duplicate_names_the_first_record_in_french_too():
    from django.utils import translation

    records = [_record(1), _record(2, hr_id="E1")]
    with translation.override("fr"):
        outcome = run_records(records, columns=COLUMNS, source="ldap")

    [error] = outcome.result.errors
    assert (error.line, error.column) == (2, "hr id")
    assert error.message.startswith("uid=p2,ou=people: ")
    assert "E1" in error.message and error.message.rstrip(".").endswith(" 1")
