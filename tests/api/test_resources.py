"""The API's resources: employees, imports, campaigns, recipients."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from employees.importing import run_import
from employees.models import Employee
from notifications.models import Campaign, CampaignStatus
from tests.ack_helpers import launched
from tests.campaign_factories import EmployeeFactory, campaign_make

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _roles(roles):
    pass


def test_lists_are_cursor_pages(hr):
    EmployeeFactory.create_batch(7)
    first = hr.get("/api/v1/employees/?page_size=5").json()
    assert set(first) == {"next", "previous", "results"}
    assert len(first["results"]) == 5
    second = hr.get(first["next"]).json()
    assert len(second["results"]) == 2
    assert second["next"] is None


def test_employee_filters(hr):
    EmployeeFactory(department="Legal", country="DE", language="de")
    gone = EmployeeFactory(department="Legal", is_active=False)
    EmployeeFactory(department="Sales")
    legal = hr.get("/api/v1/employees/?department=Legal").json()["results"]
    assert len(legal) == 2  # without active: everyone
    active = hr.get("/api/v1/employees/?department=Legal&active=true").json()["results"]
    assert [e["id"] for e in active] != [gone.pk] and len(active) == 1
    assert (
        len(hr.get("/api/v1/employees/?country=DE&language=de").json()["results"]) == 1
    )
    later = (timezone.now() + timedelta(hours=1)).isoformat()
    assert (
        hr.get("/api/v1/employees/", {"updated_since": later}).json()["results"] == []
    )
    bad = hr.get("/api/v1/employees/?updated_since=yesterday")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "updated_since"


def test_create_matches_by_hr_id_then_email(hr):
    EmployeeFactory(email="ann@example.com", hr_id="H1", first_name="Ann")
    by_id = hr.post(
        "/api/v1/employees/",
        {"email": "ann.new@example.com", "hr_id": "H1", "first_name": "Ann"},
        format="json",
    )
    assert by_id.status_code == 200
    assert Employee.objects.get(hr_id="H1").email == "ann.new@example.com"
    by_mail = hr.post(
        "/api/v1/employees/",
        {"email": "ANN.NEW@example.com", "last_name": "Lee"},
        format="json",
    )
    assert by_mail.status_code == 200 and by_mail.json()["hr_id"] == "H1"
    assert Employee.objects.count() == 1


def test_invalid_input_is_a_problem_naming_the_field(hr):
    answer = hr.post("/api/v1/employees/", {"email": "not-an-address"}, format="json")
    assert answer.status_code == 400
    assert answer["Content-Type"] == "application/problem+json"
    body = answer.json()
    assert body["status"] == 400 and body["errors"][0]["field"] == "email"


def test_deactivate(hr):
    employee = EmployeeFactory()
    answer = hr.post(f"/api/v1/employees/{employee.pk}/deactivate/")
    assert answer.status_code == 200 and answer.json()["active"] is False
    employee.refresh_from_db()
    assert not employee.is_active


FILE = (
    b"email,first_name,last_name,language\n"
    b"a@example.com,A,One,fr\n"
    b"broken,B,Two,fr\n"
    b"c@example.com,C,Three,klingon\n"
)


def test_import_dry_run_answers_the_admin_previews_errors(hr):
    upload = SimpleUploadedFile("staff.csv", FILE, content_type="text/csv")
    answer = hr.post(
        "/api/v1/imports/", {"file": upload, "dry_run": "true"}, format="multipart"
    )
    assert answer.status_code == 200
    body = answer.json()
    preview = run_import(io.BytesIO(FILE), dry_run=True)
    assert body["errors"] == [issue.as_dict() for issue in preview.errors]
    assert {"created", "updated", "unchanged", "deactivated"} <= set(body)
    assert body["id"] and Employee.objects.count() == 0


def test_import_writes_a_clean_file(hr):
    good = b"email,first_name,last_name,language\na@example.com,A,One,fr\n"
    upload = SimpleUploadedFile("staff.csv", good, content_type="text/csv")
    answer = hr.post("/api/v1/imports/", {"file": upload}, format="multipart")
    assert answer.status_code == 201
    assert answer.json()["created"] == 1
    assert Employee.objects.filter(email="a@example.com").exists()


def test_import_refuses_a_file_with_errors(hr):
    upload = SimpleUploadedFile("staff.csv", FILE, content_type="text/csv")
    answer = hr.post("/api/v1/imports/", {"file": upload}, format="multipart")
    assert answer.status_code == 400
    assert answer["Content-Type"] == "application/problem+json"
    body = answer.json()
    assert body["status"] == 400  # RFC 9457: the HTTP code
    assert body["import_status"] == "rejected"
    assert body["errors"][0]["line"] == 3
    assert Employee.objects.count() == 0


def _deadline() -> str:
    return (timezone.now() + timedelta(days=20)).isoformat()


def test_campaign_created_from_a_template_then_launched_paused_resumed_cancelled(hr):
    EmployeeFactory.create_batch(2)
    created = hr.post(
        "/api/v1/campaigns/",
        {"name": "Opt out", "deadline": _deadline(), "template": "linkedin-ai-optout"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    figures = hr.get(f"/api/v1/campaigns/{pk}/").json()
    assert figures["status"] == "draft" and "steps" in figures
    launched_ = hr.post(f"/api/v1/campaigns/{pk}/launch/")
    assert launched_.status_code == 200, launched_.json()
    assert launched_.json()["enrolled"] == 2
    assert hr.post(f"/api/v1/campaigns/{pk}/pause/").json()["status"] == "paused"
    assert hr.post(f"/api/v1/campaigns/{pk}/resume/").status_code == 200
    assert hr.post(f"/api/v1/campaigns/{pk}/cancel/").json()["status"] == "cancelled"
    again = hr.post(f"/api/v1/campaigns/{pk}/pause/")
    assert again.status_code == 400


def test_a_campaign_answer_says_what_the_admin_would_warn_about(hr):
    """A script creating a draft hears, as the admin's page says at save,
    why it could not be launched as it stands, in the request's language;
    once the draft is launchable and launched, nothing."""
    past = (timezone.now() - timedelta(days=1)).isoformat()
    body = {"name": "Late", "deadline": past, "template": "linkedin-ai-optout"}
    created = hr.post("/api/v1/campaigns/", body, format="json")
    assert created.status_code == 201
    warnings = created.json()["warnings"]
    assert any("deadline" in w and "has passed" in w for w in warnings)
    assert any("No active employee matches" in w for w in warnings)
    pk = created.json()["id"]
    french = hr.get(f"/api/v1/campaigns/{pk}/", HTTP_ACCEPT_LANGUAGE="fr")
    assert any("Aucun employé actif" in w for w in french.json()["warnings"])
    EmployeeFactory()
    Campaign.objects.filter(pk=pk).update(deadline=timezone.now() + timedelta(days=20))
    assert hr.post(f"/api/v1/campaigns/{pk}/launch/").status_code == 200
    assert hr.get(f"/api/v1/campaigns/{pk}/").json()["warnings"] == []


def test_an_unknown_template_is_refused(hr):
    answer = hr.post(
        "/api/v1/campaigns/",
        {"name": "X", "deadline": _deadline(), "template": "nope"},
        format="json",
    )
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "template"


def test_four_eyes_a_key_only_asks_for_the_launch(hr, settings):
    settings.LAUNCH_REQUIRES_APPROVAL = True
    EmployeeFactory()
    campaign = campaign_make(deadline=timezone.now() + timedelta(days=20))
    answer = hr.post(f"/api/v1/campaigns/{campaign.pk}/launch/")
    assert answer.status_code == 202 and answer.json()["outcome"] == "requested"
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


def test_recipients_filtered_by_acknowledged(hr):
    campaign, (first, second) = launched(employees=2)
    from notifications.acknowledgements.services import acknowledgement_record

    acknowledgement_record(recipient=first, content=None)
    pending = hr.get(f"/api/v1/campaigns/{campaign.pk}/recipients/?acknowledged=false")
    assert [r["id"] for r in pending.json()["results"]] == [second.pk]
    everyone = hr.get(f"/api/v1/campaigns/{campaign.pk}/recipients/").json()["results"]
    assert {r["acknowledged"] for r in everyone} == {True, False}


def test_idempotency_key_answers_the_first_time_and_refuses_another_body(hr):
    EmployeeFactory()
    body = {"name": "Once", "deadline": _deadline(), "template": "linkedin-ai-optout"}
    headers = {"HTTP_IDEMPOTENCY_KEY": "abc-1"}
    first = hr.post("/api/v1/campaigns/", body, format="json", **headers)
    second = hr.post("/api/v1/campaigns/", body, format="json", **headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"
    other = hr.post(
        "/api/v1/campaigns/", {**body, "name": "Twice"}, format="json", **headers
    )
    assert other.status_code == 422
    pk = first.json()["id"]
    launch = {"HTTP_IDEMPOTENCY_KEY": "launch-1"}
    assert hr.post(f"/api/v1/campaigns/{pk}/launch/", **launch).status_code == 200
    assert hr.post(f"/api/v1/campaigns/{pk}/launch/", **launch).status_code == 200
    from audit.models import AuditEntry

    assert AuditEntry.objects.filter(action="campaign_launch").count() == 1
