"""The staff import in the admin: upload, preview, confirm; history."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import Workbook

from employees.models import Employee, ImportRun
from tests.factories import EmployeeFactory

Status = ImportRun.Status
UPLOAD = "admin:employees_importrun_upload"

# Line 2 new, 3 updated (department), 4 unchanged, 5 invalid address;
# "old@example.com" is not in the file (deactivated with the full list).
STAFF_CSV = (
    "Courriel;Prénom;Nom;Service\r\n"
    "new@example.com;Hélène;Lefèvre;Sales\r\n"
    "upd@example.com;Paul;Martin;Finance\r\n"
    "same@example.com;Zoé;Durand;IT\r\n"
    "not-an-address;Bad;Row;IT\r\n"
)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def client() -> Client:
    return Client(headers={"accept-language": "en"})


@pytest.fixture
def directory(db) -> None:
    EmployeeFactory(email="upd@example.com", first_name="Paul", last_name="Martin",
                    department="Sales")  # fmt: skip
    EmployeeFactory(email="same@example.com", first_name="Zoé", last_name="Durand",
                    department="IT")  # fmt: skip
    EmployeeFactory(email="old@example.com", department="IT")


def _upload(
    client: Client,
    content: bytes | str = STAFF_CSV,
    name: str = "staff.csv",
    **options: str,
):
    if isinstance(content, str):
        content = content.encode("utf-8")
    data = {"file": SimpleUploadedFile(name, content), **options}
    return client.post(reverse(UPLOAD), data)


def _run_url(run: ImportRun, view: str = "preview") -> str:
    return reverse(f"admin:employees_importrun_{view}", args=[run.pk])


def _emails() -> set[str]:
    return set(Employee.objects.values_list("email", flat=True))


def _state() -> list[tuple]:
    return list(
        Employee.objects.order_by("email").values_list(
            "email", "first_name", "department", "is_active"
        )
    )


def _counts(body: str) -> dict[str, str]:
    found = {}
    for name in ("created", "updated", "unchanged", "deactivated", "errors"):
        marker = f'data-count="{name}">'
        start = body.index(marker) + len(marker)
        found[name] = body[start : body.index("<", start)]
    return found


# ------------------------------------------------------------- the flow


def test_it_shows_the_upload_form(client, hr_admin):
    client.force_login(hr_admin)
    response = client.get(reverse(UPLOAD))
    assert response.status_code == 200
    assert set(response.context["form"].fields) == {"file", "sync", "skip_invalid"}
    assert 'enctype="multipart/form-data"' in response.content.decode()


def test_it_previews_counts_and_line_errors_then_imports_on_confirm(
    client, hr_admin, directory
):
    before = _state()
    client.force_login(hr_admin)
    response = _upload(client, sync="on", skip_invalid="on")
    run = ImportRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == _run_url(run)

    page = client.get(_run_url(run))
    body = page.content.decode()
    assert page.context["run"].status == Status.PREVIEW
    assert _counts(body) == {
        "created": "1", "updated": "1", "unchanged": "1", "deactivated": "1",
        "errors": "1",
    }  # fmt: skip
    errors = body[body.index('id="import-errors"') :]
    assert "<td>5</td>" in errors and "not-an-address" in errors
    assert 'id="import-confirm"' in body
    assert _state() == before, "nothing is written before confirm"

    # 1 of 3 active employees: above IMPORT_DEACTIVATE_WARN_PERCENT, typed.
    response = client.post(_run_url(run, "confirm"), {"deactivate_count": "1"})
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == Status.DONE
    assert (run.created, run.updated, run.deactivated) == (1, 1, 1)
    assert _state() == [
        ("new@example.com", "Hélène", "Sales", True),
        ("old@example.com", before[0][1], "IT", False),
        ("same@example.com", "Zoé", "IT", True),
        ("upd@example.com", "Paul", "Finance", True),
    ]
    body = client.get(_run_url(run)).content.decode()
    assert 'id="import-done"' in body
    assert _counts(body)["created"] == "1"
    assert "http-equiv" not in body


def test_it_imports_an_xlsx_file(client, hr_admin):
    workbook = Workbook()
    workbook.active.append(["E-mail", "First name", "Employee ID"])
    workbook.active.append(["ann@example.com", "Ann", "00123"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    client.force_login(hr_admin)
    _upload(client, buffer.getvalue(), name="staff.xlsx")
    run = ImportRun.objects.get()
    client.post(_run_url(run, "confirm"))
    assert list(Employee.objects.values_list("email", "hr_id")) == [
        ("ann@example.com", "00123")
    ]


def test_it_imports_once_on_a_double_confirm(client, hr_admin):
    client.force_login(hr_admin)
    _upload(client, "email\nann@example.com\nbob@example.com\n")
    run = ImportRun.objects.get()
    client.post(_run_url(run, "confirm"))
    second = client.post(_run_url(run, "confirm"), follow=True)
    run.refresh_from_db()
    # A second import would have recounted both rows as "unchanged".
    assert (run.status, run.created, run.unchanged) == (Status.DONE, 2, 0)
    assert Employee.objects.count() == 2
    assert "already been decided" in second.content.decode()


def test_it_changes_nothing_on_a_get_of_the_confirm_url(client, hr_admin):
    client.force_login(hr_admin)
    _upload(client, "email\nann@example.com\n")
    run = ImportRun.objects.get()
    assert client.get(_run_url(run, "confirm")).status_code == 405
    assert client.get(_run_url(run, "cancel")).status_code == 405
    run.refresh_from_db()
    assert run.status == Status.PREVIEW
    assert not Employee.objects.exists()


def test_it_writes_nothing_when_invalid_rows_are_not_skipped(client, hr_admin):
    client.force_login(hr_admin)
    _upload(client)
    run = ImportRun.objects.get()
    body = client.get(_run_url(run)).content.decode()
    assert 'id="import-confirm"' not in body
    assert "skip invalid rows" in body
    client.post(_run_url(run, "confirm"))  # forced anyway: still refused
    run.refresh_from_db()
    assert run.status == Status.REJECTED
    assert not Employee.objects.exists()


def test_it_cancels_a_previewed_import(client, hr_admin):
    client.force_login(hr_admin)
    _upload(client, "email\nann@example.com\n")
    run = ImportRun.objects.get()
    client.post(_run_url(run, "cancel"))
    client.post(_run_url(run, "confirm"))
    run.refresh_from_db()
    assert run.status == Status.CANCELLED
    assert not Employee.objects.exists()


def test_it_explains_a_file_it_cannot_read(client, hr_admin):
    client.force_login(hr_admin)
    _upload(client, b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", name="staff.csv")
    run = ImportRun.objects.get()
    body = client.get(_run_url(run)).content.decode()
    assert run.status == Status.REJECTED
    assert 'id="import-message"' in body and 'id="import-confirm"' not in body


def test_it_refuses_files_that_are_no_staff_list(client, hr_admin):
    client.force_login(hr_admin)
    response = _upload(client, b"%PDF-1.7", name="staff.pdf")
    assert response.status_code == 200
    assert response.context["form"].errors["file"]
    assert not ImportRun.objects.exists()


# --------------------------------------------------------- permissions


def test_it_sends_anonymous_visitors_to_the_login_page(client, db):
    response = client.get(reverse(UPLOAD))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_it_does_not_let_a_viewer_upload_or_confirm(client, hr_admin, viewer):
    client.force_login(viewer)
    assert client.get(reverse(UPLOAD)).status_code == 403
    assert _upload(client).status_code == 403
    assert not ImportRun.objects.exists()
    client.force_login(hr_admin)
    _upload(client, "email\nann@example.com\n")
    run = ImportRun.objects.get()
    client.force_login(viewer)
    assert client.post(_run_url(run, "confirm")).status_code == 403
    assert client.post(_run_url(run, "cancel")).status_code == 403
    assert client.get(_run_url(run)).status_code == 403
    run.refresh_from_db()
    assert run.status == Status.PREVIEW
    assert not Employee.objects.exists()


# ----------------------------------------------------- background path


@pytest.fixture
def background(settings) -> None:
    settings.IMPORT_SYNC_MAX_BYTES = 0
    settings.CELERY_TASK_ALWAYS_EAGER = True


def test_it_analyses_and_imports_a_large_file_in_the_background(
    client, hr_admin, background, django_capture_on_commit_callbacks
):
    client.force_login(hr_admin)
    with django_capture_on_commit_callbacks() as analysis:
        _upload(client, "email;prénom\nann@example.com;Ann\nbob@example.com;Bob\n")
    run = ImportRun.objects.get()
    assert len(analysis) == 1, "the analysis waits for the worker"
    body = client.get(_run_url(run)).content.decode()
    assert run.status == Status.PENDING
    assert "<progress" in body and 'http-equiv="refresh" content="2"' in body

    analysis[0]()  # the worker runs the task
    body = client.get(_run_url(run)).content.decode()
    assert _counts(body)["created"] == "2"
    assert not Employee.objects.exists()

    with django_capture_on_commit_callbacks() as commit:
        client.post(_run_url(run, "confirm"))
    body = client.get(_run_url(run)).content.decode()
    assert "<progress" in body and 'id="import-confirm"' not in body
    assert not Employee.objects.exists()

    commit[0]()
    body = client.get(_run_url(run)).content.decode()
    run.refresh_from_db()
    assert run.status == Status.DONE
    assert 'id="import-done"' in body and "<progress" not in body
    assert _counts(body)["created"] == "2"
    assert _emails() == {"ann@example.com", "bob@example.com"}


def test_it_shows_the_progress_of_a_running_import(client, hr_admin):
    run = ImportRun.objects.create(
        file_name="big.csv", status=Status.IMPORTING, rows_total=200, rows_done=50
    )
    client.force_login(hr_admin)
    body = client.get(_run_url(run)).content.decode()
    assert '<progress max="200" value="50">' in body
    assert "50 of 200 rows (25 %)" in body


def test_it_says_when_no_worker_seems_to_run(client, hr_admin):
    fresh = ImportRun.objects.create(file_name="a.csv", status=Status.PENDING)
    stale = ImportRun.objects.create(file_name="b.csv", status=Status.PENDING)
    ImportRun.objects.filter(pk=stale.pk).update(
        created_at=timezone.now() - timedelta(seconds=45)
    )
    client.force_login(hr_admin)
    assert 'id="worker-hint"' not in client.get(_run_url(fresh)).content.decode()
    assert 'id="worker-hint"' in client.get(_run_url(stale)).content.decode()


# ------------------------------------------------------------- history


def test_it_keeps_the_history_read_only_even_for_a_superuser(client, dpo):
    run = ImportRun.objects.create(
        file_name="staff.csv", status=Status.DONE, created=3, error_count=1,
        errors=[{"line": 7, "column": "email", "message": "Not an address"}],
        user=dpo, actor="dpo",
    )  # fmt: skip
    client.force_login(dpo)
    listing = client.get(reverse("admin:employees_importrun_changelist"))
    assert listing.status_code == 200 and "staff.csv" in listing.content.decode()
    detail = client.get(reverse("admin:employees_importrun_change", args=[run.pk]))
    assert detail.status_code == 200
    assert "Not an address" in detail.content.decode()
    assert client.get(reverse("admin:employees_importrun_add")).status_code == 403
    delete_url = reverse("admin:employees_importrun_delete", args=[run.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    client.post(
        reverse("admin:employees_importrun_change", args=[run.pk]),
        {"file_name": "other.csv", "status": Status.FAILED},
    )
    run.refresh_from_db()
    assert (run.file_name, run.status) == ("staff.csv", Status.DONE)


def test_it_records_who_imported_what(client, hr_admin):
    client.force_login(hr_admin)
    _upload(client, "email\nann@example.com\n", sync="on")
    run = ImportRun.objects.get()
    assert (run.user, run.source, run.sync, run.file_name) == (
        hr_admin, ImportRun.Source.ADMIN, True, "staff.csv",
    )  # fmt: skip
    body = client.get(reverse("admin:employees_importrun_changelist")).content
    assert b"staff.csv" in body and b"full list" in body
