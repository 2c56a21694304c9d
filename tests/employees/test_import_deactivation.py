"""A full-list import that deactivates many people: who, the warning above
IMPORT_DEACTIVATE_WARN_PERCENT, and the typed number that confirms it."""

from __future__ import annotations

import codecs
import io
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from employees.models import Employee, ImportRun
from tests.factories import EmployeeFactory

Status = ImportRun.Status
# 20 stay, 5 leave: 5 of 25 is 20 %, above the default 10 %.
STAYING = [f"stay{n}@example.com" for n in range(20)]
LEAVING = [f"leave{n}@example.com" for n in range(5)]
FULL_LIST = "email\n" + "\n".join(STAYING) + "\n"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.IMPORT_DEACTIVATE_WARN_PERCENT = 10


@pytest.fixture
def directory(db) -> None:
    for email in STAYING:
        EmployeeFactory(email=email)
    for number, email in enumerate(LEAVING):
        EmployeeFactory(email=email, first_name="Léa", last_name=f"Départ{number}")


@pytest.fixture
def client() -> Client:
    return Client(headers={"accept-language": "en"})


def _preview(client: Client, hr_admin) -> ImportRun:
    client.force_login(hr_admin)
    upload = SimpleUploadedFile("staff.csv", FULL_LIST.encode())
    client.post(
        reverse("admin:employees_importrun_upload"), {"file": upload, "sync": "on"}
    )
    return ImportRun.objects.get()


def _url(run: ImportRun, view: str) -> str:
    return reverse(f"admin:employees_importrun_{view}", args=[run.pk])


def _active() -> int:
    return Employee.objects.filter(is_active=True).count()


def test_it_lists_who_a_full_list_deactivates_and_warns_above_the_threshold(
    client, hr_admin, directory
):
    run = _preview(client, hr_admin)
    body = client.get(_url(run, "preview")).content.decode()
    listed = body[body.index('id="import-deactivations"') :]
    assert all(email in listed for email in LEAVING)
    assert "stay0@example.com" not in listed
    assert 'id="import-mass-deactivation"' in body
    assert "deactivate 5 of the 25 active employees (20 %)" in body
    assert 'name="deactivate_count"' in body


def test_it_does_not_ask_for_a_number_below_the_threshold(
    client, hr_admin, directory, settings
):
    settings.IMPORT_DEACTIVATE_WARN_PERCENT = 25
    run = _preview(client, hr_admin)
    body = client.get(_url(run, "preview")).content.decode()
    assert 'id="import-deactivations"' in body
    assert 'id="import-mass-deactivation"' not in body
    client.post(_url(run, "confirm"))
    run.refresh_from_db()
    assert (run.status, _active()) == (Status.DONE, 20)


def test_it_downloads_the_deactivation_list_as_csv_and_xlsx(
    client, hr_admin, directory
):
    run = _preview(client, hr_admin)
    response = client.get(
        reverse("admin:employees_importrun_deactivations", args=[run.pk, "csv"])
    )
    text = b"".join(response.streaming_content)
    assert text.startswith(codecs.BOM_UTF8)
    lines = text.decode("utf-8-sig").splitlines()
    assert lines[0] == "email,first name,last name,HR id,department,country"
    assert sorted(line.split(",")[0] for line in lines[1:]) == sorted(LEAVING)
    assert "Départ0" in text.decode("utf-8-sig")

    response = client.get(
        reverse("admin:employees_importrun_deactivations", args=[run.pk, "xlsx"])
    )
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    assert book.sheetnames == ["To deactivate"]
    assert book.active.max_row == 1 + len(LEAVING)


def test_it_refuses_the_deactivation_list_to_anonymous_visitors(
    client, hr_admin, directory
):
    run = _preview(client, hr_admin)
    client.logout()
    url = reverse("admin:employees_importrun_deactivations", args=[run.pk, "csv"])
    assert client.get(url).status_code == 302


def test_it_confirms_nothing_on_a_missing_or_wrong_number(client, hr_admin, directory):
    run = _preview(client, hr_admin)
    for data in ({}, {"deactivate_count": "4"}, {"deactivate_count": "25"}):
        response = client.post(_url(run, "confirm"), data)
        assert response.status_code == 200
        assert "nothing was confirmed" in response.content.decode()
        run.refresh_from_db()
        assert run.status == Status.PREVIEW
    assert _active() == 25


def test_it_deactivates_on_the_right_number(client, hr_admin, directory):
    run = _preview(client, hr_admin)
    response = client.post(_url(run, "confirm"), {"deactivate_count": "5"})
    assert response.status_code == 302
    run.refresh_from_db()
    assert (run.status, run.deactivated, _active()) == (Status.DONE, 5, 20)
    assert not Employee.objects.filter(email__in=LEAVING, is_active=True).exists()


def test_it_refuses_at_commit_when_more_would_leave_than_were_confirmed(
    client, hr_admin, directory
):
    run = _preview(client, hr_admin)
    EmployeeFactory(email="arrived-since@example.com")  # not in the file
    client.post(_url(run, "confirm"), {"deactivate_count": "5"})
    run.refresh_from_db()
    assert run.status == Status.REJECTED
    assert "6 of the 26" in run.message
    assert _active() == 26


# ------------------------------------------------------------ the command


def _command(*args: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("import_employees", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def full_list(tmp_path: Path) -> str:
    path = tmp_path / "staff.csv"
    path.write_text(FULL_LIST)
    return str(path)


def test_it_refuses_a_mass_deactivation_from_the_command_line(directory, full_list):
    code, _out, err = _command(full_list, "--sync")
    assert code == 2
    assert "would deactivate 5 of the 25 active employees" in err
    assert "--confirm-deactivate 5" in err
    assert _active() == 25
    assert ImportRun.objects.get().status == Status.REJECTED


def test_it_refuses_a_wrong_confirm_deactivate(directory, full_list):
    code, _out, _err = _command(full_list, "--sync", "--confirm-deactivate", "3")
    assert (code, _active()) == (2, 25)


def test_it_deactivates_with_the_right_confirm_deactivate(directory, full_list):
    code, out, _err = _command(full_list, "--sync", "--confirm-deactivate", "5")
    assert code == 0
    assert "deactivated 5." in out
    assert _active() == 20


def test_it_reports_a_mass_deactivation_on_a_dry_run(directory, full_list):
    code, out, _err = _command(full_list, "--sync", "--dry-run")
    assert (code, _active()) == (0, 25)
    assert "deactivate 5" in out
