"""The import runs behind the admin pages: confirm, crash recovery, audit."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditAction, AuditEntry
from employees import services
from employees.models import Employee, ImportRun

pytestmark = pytest.mark.django_db
Status = ImportRun.Status


def _run(text: str = "email\nann@example.com\n") -> ImportRun:
    run = services.import_run_create(
        file=io.BytesIO(text.encode()), file_name="staff.csv", user=None
    )
    return services.import_run_analyse(run_id=run.pk)


def test_it_confirms_a_preview_once():
    run = _run()
    assert services.import_run_confirm(run_id=run.pk) is True
    assert services.import_run_confirm(run_id=run.pk) is False
    run.refresh_from_db()
    assert (run.status, run.confirmed_at is not None) == (Status.CONFIRMED, True)
    assert Employee.objects.count() == 0


def test_it_commits_a_confirmed_run_once():
    run = _run()
    services.import_run_confirm(run_id=run.pk)
    services.import_run_commit(run_id=run.pk)
    again = services.import_run_commit(run_id=run.pk)
    assert (again.status, again.created) == (Status.DONE, 1)
    assert Employee.objects.count() == 1


def test_it_does_not_confirm_a_cancelled_run():
    run = _run()
    services.import_run_cancel(run_id=run.pk)
    assert services.import_run_confirm(run_id=run.pk) is False
    assert services.import_run_commit(run_id=run.pk).status == Status.CANCELLED
    assert Employee.objects.count() == 0


def test_it_requeues_runs_whose_worker_died():
    stuck = _run()
    ImportRun.objects.filter(pk=stuck.pk).update(status=Status.IMPORTING)
    live = _run("email\nbob@example.com\n")
    ImportRun.objects.filter(pk=live.pk).update(status=Status.ANALYSING)
    later = timezone.now() + services.STALLED_AFTER + timedelta(seconds=1)
    ImportRun.objects.filter(pk=live.pk).update(updated_at=later)
    assert services.import_runs_requeue_stalled(now=later) == [(stuck.pk, "commit")]
    stuck.refresh_from_db()
    assert stuck.status == Status.CONFIRMED
    assert services.import_run_commit(run_id=stuck.pk).status == Status.DONE
    assert list(Employee.objects.values_list("email", flat=True)) == ["ann@example.com"]


def test_it_records_each_decided_import_in_the_audit_log(django_user_model):
    user = django_user_model.objects.create_user("dpo", password="x")
    run = services.import_run_create(
        file=io.BytesIO(b"email\nann@example.com\n"), file_name="rh.csv", user=user
    )
    services.import_run_analyse(run_id=run.pk)
    services.import_run_commit(run_id=run.pk)
    entry = AuditEntry.objects.get(action=AuditAction.IMPORT)
    assert (entry.user, entry.after["status"], entry.after["created"]) == (
        user,
        "done",
        1,
    )
    assert entry.after["file_sha256"] == run.file_sha256


def test_it_records_deactivation_in_the_audit_log():
    ann = Employee.objects.create(email="ann@example.com")
    assert services.employee_set_active(employee_ids=[ann.pk], active=False) == [ann.pk]
    assert services.employee_set_active(employee_ids=[ann.pk], active=False) == []
    ann.refresh_from_db()
    assert not ann.is_active
    assert AuditEntry.objects.filter(action=AuditAction.EMPLOYEE_CHANGE).count() == 1


def test_it_offers_access_and_erasure_on_the_employee_page(admin_client):
    ann = Employee.objects.create(email="ann@example.com")
    page = admin_client.get(f"/admin/employees/employee/{ann.pk}/change/")
    assert f"/admin/employees/employee/{ann.pk}/personal-data.json" in page.text
    assert f"/admin/employees/employee/{ann.pk}/erase/" in page.text
