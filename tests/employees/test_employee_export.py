"""The staff list exported from the admin (CSV, XLSX) is safe to open in a
spreadsheet whatever an HR file hid in front of a formula."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from tests.common.hostile import (
    HOSTILE,
    HOSTILE_EMAIL,
    assert_csv_safe,
    assert_xlsx_safe,
    csv_written,
    xlsx_read_back,
)
from tests.factories import EmployeeFactory

# Every free-text column of the export holds the hostile value.
TEXT_COLUMNS = ("first_name", "last_name", "department", "country", "hr_id")


@pytest.fixture
def client() -> Client:
    return Client(headers={"accept-language": "en"})


@pytest.fixture
def hostile_staff(db) -> None:
    # An address that is a formula passes Django's validator: made directly.
    boss = EmployeeFactory(email=HOSTILE_EMAIL, first_name="Boss")
    for n, value in enumerate(HOSTILE):
        EmployeeFactory(
            email=f"p{n}@example.com",
            manager=boss,
            **dict.fromkeys(TEXT_COLUMNS, value),
        )


def _export(client: Client, kind: str) -> bytes:
    response = client.get(reverse("admin:employees_employee_export", args=[kind]))
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def test_the_staff_csv_neutralises_every_cell_whatever_hides_the_formula(
    client, viewer, hostile_staff
):
    client.force_login(viewer)
    text = _export(client, "csv").decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert_csv_safe(rows)
    by_email = {row[0]: row for row in rows[1:]}
    for n, value in enumerate(HOSTILE):
        row = by_email[f"p{n}@example.com"]
        # first name, last name, department, country; manager email; HR id
        assert row[1:5] == [csv_written(value)] * 4
        assert row[6] == csv_written(HOSTILE_EMAIL)
        assert row[7] == csv_written(value)
    assert by_email[csv_written(HOSTILE_EMAIL)][1] == "Boss"


def test_the_staff_xlsx_holds_prefixed_text_whatever_hides_the_formula(
    client, viewer, hostile_staff
):
    client.force_login(viewer)
    sheet = load_workbook(io.BytesIO(_export(client, "xlsx"))).active
    assert_xlsx_safe(sheet)
    rows = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    for n, value in enumerate(HOSTILE):
        row = rows[f"p{n}@example.com"]
        for cell in (*row[1:5], row[7]):
            assert cell.data_type == "s"
            assert cell.value == xlsx_read_back(value)
        assert row[6].value == csv_written(HOSTILE_EMAIL)
    boss = rows[csv_written(HOSTILE_EMAIL)]
    assert boss[0].data_type == "s" and boss[1].value == "Boss"
