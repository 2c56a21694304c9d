"""Exports a DPO opens in Excel: formula-safe, accents intact, the filtered list."""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from common import exporting
from employees.models import EmailStatus
from tests.factories import EmployeeFactory, UserFactory

ATTACKS = ["=cmd|' /C calc'!A0", "+1", "-2", "@SUM(A1:A2)", "\t=1", "\r=1"]
HEADERS = ["email", "first name", "last name", "department", "country",
           "language", "manager email", "HR id", "active", "email status"]  # fmt: skip


@pytest.fixture
def client() -> Client:
    return Client(headers={"accept-language": "en"})


def _csv_rows(response, delimiter: str = ",") -> list[list[str]]:
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf"), "Excel needs the BOM to read UTF-8"
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=delimiter))


def _xlsx_rows(response) -> list[tuple]:
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    return list(sheet.iter_rows(values_only=True))


def _export(client: Client, kind: str, query: str = "") -> object:
    url = reverse("admin:employees_employee_export", args=[kind])
    return client.get(f"{url}?{query}" if query else url)


# ------------------------------------------------------------ the one rule


@pytest.mark.parametrize("attack", ATTACKS)
def test_it_neutralises_text_that_a_spreadsheet_would_evaluate(attack):
    assert exporting.neutralise(attack) == "'" + attack


@pytest.mark.parametrize("value", ["Hélène", "a=b", "jean-luc@example.com", "", 3])
def test_it_leaves_harmless_values_alone(value):
    assert exporting.neutralise(value) == value


def test_it_keeps_numbers_as_numbers_in_both_formats():
    rows = [("n", -2, 1.5)]
    csv_text = "".join(exporting.csv_lines(["a", "b", "c"], rows))
    assert csv_text.splitlines()[1] == "n,-2,1.5"
    sheet = load_workbook(exporting.xlsx_file(["a", "b", "c"], rows)).active
    assert [cell.value for cell in sheet[2]] == ["n", -2, 1.5]
    assert sheet["B2"].data_type == "n"


def test_it_writes_aware_datetimes_in_local_time_in_both_formats(settings):
    settings.TIME_ZONE = "Europe/Paris"
    moment = datetime(2025, 11, 3, 8, 30, tzinfo=UTC)
    csv_text = "".join(exporting.csv_lines(["at"], [(moment,)]))
    assert csv_text.splitlines()[1] == "2025-11-03 09:30:00"
    sheet = load_workbook(exporting.xlsx_file(["at"], [(moment,)])).active
    assert sheet["A2"].value == datetime(2025, 11, 3, 9, 30)


def test_it_streams_csv_with_flat_memory():
    def rows():
        for n in range(100_000):
            yield (f"person{n}@example.com", "Hélène", "Müller", n, "=1+1")

    tracemalloc.start()
    size = 0
    for chunk in exporting.csv_lines(["a", "b", "c", "d", "e"], rows()):
        size += len(chunk)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert size > 5_000_000
    assert peak < 1_000_000, f"peak {peak} bytes for a {size}-byte export"


# ------------------------------------------------------ the admin export


def test_it_exports_the_staff_list_as_csv_neutralised_with_accents(client, viewer):
    manager = EmployeeFactory(email="boss@example.com", first_name="Zoé")
    for n, attack in enumerate(ATTACKS[:4]):
        EmployeeFactory(
            email=f"a{n}@example.com", first_name=attack, last_name="Lefèvre",
            manager=manager, hr_id=f"00{n}",
        )  # fmt: skip
    client.force_login(viewer)
    response = _export(client, "csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    rows = _csv_rows(response)
    assert rows[0] == HEADERS
    by_email = {row[0]: row for row in rows[1:]}
    assert {by_email[f"a{n}@example.com"][1] for n in range(4)} == {
        "'=cmd|' /C calc'!A0", "'+1", "'-2", "'@SUM(A1:A2)",
    }  # fmt: skip
    first = by_email["a0@example.com"]
    assert first[2] == "Lefèvre"
    assert first[6] == "boss@example.com"
    assert first[7] == "000"
    assert first[8:] == ["yes", "OK"]
    assert by_email["boss@example.com"][1] == "Zoé"


def test_it_exports_the_staff_list_as_xlsx_neutralised_with_accents(client, viewer):
    for n, attack in enumerate(ATTACKS[:4]):
        EmployeeFactory(email=f"a{n}@example.com", first_name=attack, last_name="Đặng")
    client.force_login(viewer)
    response = _export(client, "xlsx")
    assert response.status_code == 200
    assert response["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml"
    )
    rows = _xlsx_rows(response)
    assert list(rows[0]) == HEADERS
    assert sorted(row[1] for row in rows[1:]) == sorted(
        ["'=cmd|' /C calc'!A0", "'+1", "'-2", "'@SUM(A1:A2)"]
    )
    assert {row[2] for row in rows[1:]} == {"Đặng"}


def test_it_uses_the_semicolon_french_excel_expects_for_french_users(db, viewer):
    EmployeeFactory(email="helene@example.com", first_name="Hélène", department="R;D")
    client = Client(headers={"accept-language": "fr"})
    client.force_login(viewer)
    rows = _csv_rows(_export(client, "csv"), delimiter=";")
    assert rows[1][:4] == ["helene@example.com", "Hélène", rows[1][2], "R;D"]


def test_it_exports_exactly_the_filtered_and_searched_list(client, viewer):
    EmployeeFactory(email="ann@example.com", first_name="Ann", department="Sales")
    EmployeeFactory(email="bob@example.com", first_name="Bob", department="Sales")
    EmployeeFactory(email="cid@example.com", first_name="Ann", department="IT")
    EmployeeFactory(
        email="dan@example.com", first_name="Ann", department="Sales", is_active=False
    )
    EmployeeFactory(
        email="eve@example.com", first_name="Ann", department="Sales",
        email_status=EmailStatus.BOUNCED,
    )  # fmt: skip
    client.force_login(viewer)
    query = "department=Sales&is_active__exact=1&q=ann&o=-1"
    listed = client.get(reverse("admin:employees_employee_changelist") + "?" + query)
    listed_emails = [e.email for e in listed.context["cl"].result_list]
    exported = [row[0] for row in _csv_rows(_export(client, "csv", query))[1:]]
    assert exported == listed_emails == ["eve@example.com", "ann@example.com"]
    xlsx = [row[0] for row in _xlsx_rows(_export(client, "xlsx", query))[1:]]
    assert xlsx == listed_emails


def test_it_links_the_export_buttons_to_the_current_filters(client, viewer):
    client.force_login(viewer)
    url = reverse("admin:employees_employee_changelist") + "?department=Sales"
    body = client.get(url).content.decode()
    export_url = reverse("admin:employees_employee_export", args=["csv"])
    assert f'href="{export_url}?department=Sales"' in body


def test_it_sends_anonymous_visitors_to_the_login_page(client, db):
    response = _export(client, "csv")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_it_forbids_the_export_without_view_permission(client, db):
    EmployeeFactory()
    client.force_login(UserFactory(username="nobody"))
    assert _export(client, "csv").status_code == 403
    assert _export(client, "xlsx").status_code == 403


def test_it_refuses_an_unknown_format(client, dpo):
    client.force_login(dpo)
    assert _export(client, "pdf").status_code == 403
