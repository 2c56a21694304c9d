"""The dashboard's people / outstanding exports (CSV, XLSX) are safe to open
in a spreadsheet whatever an HR file hid in front of a formula."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from employees.models import Employee
from notifications.models import Campaign, Recipient
from tests.common.hostile import (
    HOSTILE,
    HOSTILE_EMAIL,
    assert_csv_safe,
    assert_xlsx_safe,
    csv_written,
    xlsx_read_back,
)
from tests.dashboard_factories import campaign_built
from tests.factories import member_make

pytestmark = pytest.mark.django_db

# Columns holding text from the staff file, by their English header.
HOSTILE_COLUMNS = ("Last name", "First name", "Department", "Country / site")
BOSS_FIRST_NAME = "\u200b=1+1"


@pytest.fixture
def dpo_client() -> Client:
    client = Client(headers={"accept-language": "en"})
    client.force_login(member_make("DPO"))
    return client


@pytest.fixture
def hostile() -> Campaign:
    """Outstanding people with a formula hidden in every text column; their
    manager's address is one; one acknowledged person's answer too."""
    campaign = campaign_built(30).campaign
    boss = Employee.objects.create(
        email=HOSTILE_EMAIL, first_name=BOSS_FIRST_NAME, last_name="Boss"
    )
    outstanding = campaign.recipients.filter(acknowledged_at=None).order_by("id")
    for n, (recipient, value) in enumerate(zip(outstanding, HOSTILE, strict=False)):
        Recipient.objects.filter(pk=recipient.pk).update(
            first_name=value, last_name=value
        )
        Employee.objects.filter(pk=recipient.employee_id).update(
            email=f"{value}{n}@ctl.example",
            department=value,
            country=value,
            manager=boss,
        )
    acknowledged = campaign.recipients.exclude(acknowledged_at=None).first()
    Recipient.objects.filter(pk=acknowledged.pk).update(answer="\ufeff@SUM(A1)")
    return campaign


def _export(client: Client, campaign: Campaign, kind: str) -> bytes:
    url = reverse(
        "admin:notifications_campaign_outstanding_export", args=[campaign.pk, kind]
    )
    response = client.get(url + "?show=all")
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def test_the_people_csv_neutralises_every_cell_whatever_hides_the_formula(
    dpo_client, hostile
):
    text = _export(dpo_client, hostile, "csv").decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert_csv_safe(rows)
    header = rows[0]
    at = {name: header.index(name) for name in header}
    by_last_name = {row[at["Last name"]]: row for row in rows[1:]}
    for n, value in enumerate(HOSTILE):
        row = by_last_name[csv_written(value)]
        assert [row[at[c]] for c in HOSTILE_COLUMNS] == [csv_written(value)] * 4
        assert row[at["Email"]] == csv_written(f"{value}{n}@ctl.example")
        assert row[at["Manager"]] == csv_written(f"{BOSS_FIRST_NAME} Boss")
        assert row[at["Manager's email"]] == csv_written(HOSTILE_EMAIL)
    answers = {row[at["Answer"]] for row in rows[1:]}
    assert csv_written("\ufeff@SUM(A1)") in answers


def test_the_people_xlsx_holds_prefixed_text_whatever_hides_the_formula(
    dpo_client, hostile
):
    sheet = load_workbook(io.BytesIO(_export(dpo_client, hostile, "xlsx"))).active
    assert_xlsx_safe(sheet)
    rows = list(sheet.iter_rows())
    at = {cell.value: index for index, cell in enumerate(rows[0])}
    by_last_name = {row[at["Last name"]].value: row for row in rows[1:]}
    for value in HOSTILE:
        row = by_last_name[xlsx_read_back(value)]
        for column in (*HOSTILE_COLUMNS, "Email", "Manager", "Manager's email"):
            cell = row[at[column]]
            assert cell.data_type == "s" and cell.value.startswith("'"), column
        assert row[at["Manager's email"]].value == csv_written(HOSTILE_EMAIL)
    answers = [row[at["Answer"]] for row in rows[1:]]
    assert xlsx_read_back("\ufeff@SUM(A1)") in {cell.value for cell in answers}
    acknowledged = [row[at["Acknowledged at"]] for row in rows[1:]]
    assert {cell.data_type for cell in acknowledged if cell.value} == {"d"}
