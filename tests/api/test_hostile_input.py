"""What a careless or hostile client sends gets a 400 (or 404) naming what is
wrong, and nothing is written: found by probing every endpoint."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from employees.models import Employee
from events.models import WebhookEndpoint
from notifications.models import Campaign
from tests.api.helpers import client_for
from tests.campaign_factories import EmployeeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _roles(roles):
    pass


def _field(answer) -> str:
    assert answer.status_code == 400, answer.content
    assert answer["Content-Type"] == "application/problem+json"
    return answer.json()["errors"][0]["field"]


@pytest.mark.parametrize("since", ["2025-02-30T00:00:00", "2025-13-01T00:00:00Z"])
def test_an_impossible_date_in_a_filter_is_refused(hr, since):
    answer = hr.get("/api/v1/employees/", {"updated_since": since})
    assert _field(answer) == "updated_since"


# Each a way to write a real employee's id that is not a whole JSON number
# (DRF's own field took 2.5 for 2), or no id a database holds.
MANAGERS = {
    "a fraction": lambda pk: f"{pk}.5",
    "an exponent": lambda pk: f"{pk}e0",
    "infinity": lambda pk: "1e400",
    "full-width digits": lambda pk: json.dumps(
        "".join(chr(0xFF10 + int(d)) for d in str(pk))
    ),
    "a boolean": lambda pk: "true",
    "30 digits": lambda pk: str(10**30),
}


@pytest.mark.parametrize("form", list(MANAGERS))
def test_a_manager_that_is_not_a_whole_id_is_refused(hr, form):
    boss = EmployeeFactory()
    manager = MANAGERS[form](boss.pk)
    body = f'{{"email": "new@example.com", "manager": {manager}}}'
    answer = hr.post("/api/v1/employees/", body, content_type="application/json")
    assert _field(answer) == "manager"
    assert not Employee.objects.filter(email="new@example.com").exists()
    plain = f'{{"email": "new@example.com", "manager": {boss.pk}}}'
    assert (
        hr.post("/api/v1/employees/", plain, content_type="application/json").json()[
            "manager"
        ]
        == boss.pk
    )


@pytest.mark.parametrize("path", ["/api/v1/employees/", "/api/v1/campaigns/"])
@pytest.mark.parametrize("idempotent", [False, True])
def test_a_body_nested_too_deeply_is_a_bad_request(hr, path, idempotent):
    headers = {"HTTP_IDEMPOTENCY_KEY": "deep-1"} if idempotent else {}
    answer = hr.post(path, "[" * 100_000, content_type="application/json", **headers)
    assert answer.status_code == 400
    assert "nested too deeply" in answer.json()["detail"]


def _campaign_post(hr, **extra: object):  # type: ignore[no-untyped-def]
    """POST a campaign that is valid but for ``extra``."""
    body = {
        "name": "Probe",
        "deadline": (timezone.now() + timedelta(days=20)).isoformat(),
        "template": "linkedin-ai-optout",
        **extra,
    }
    return hr.post("/api/v1/campaigns/", body, format="json")


def test_a_department_longer_than_any_is_refused_and_no_campaign_is_left(hr):
    answer = _campaign_post(hr, departments=["x" * 100_000])
    assert _field(answer).startswith("departments")
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(
    "sender", ["not an email", "x@example.com\r\nBcc: victim@example.com"]
)
def test_a_sender_that_is_not_an_address_is_refused(hr, sender):
    answer = _campaign_post(hr, from_email=sender)
    assert _field(answer) == "from_email"
    assert not Campaign.objects.exists()


def test_a_named_sender_is_accepted(hr):
    answer = _campaign_post(hr, from_email="DPO <dpo@example.com>")
    assert answer.status_code == 201, answer.json()


def test_a_time_zone_is_checked_as_the_file_import_does(hr):
    answer = hr.post(
        "/api/v1/employees/",
        {"email": "tz@example.com", "time_zone": "Mars/Olympus"},
        format="json",
    )
    assert _field(answer) == "time_zone"
    ok = hr.post(
        "/api/v1/employees/",
        {"email": "tz@example.com", "time_zone": "europe/paris"},
        format="json",
    )
    assert ok.status_code == 201 and ok.json()["time_zone"] == "Europe/Paris"


def test_nobody_becomes_their_own_manager(hr):
    boss, report = EmployeeFactory(), EmployeeFactory()
    Employee.objects.filter(pk=report.pk).update(manager=boss)
    itself = hr.patch(
        f"/api/v1/employees/{boss.pk}/", {"manager": boss.pk}, format="json"
    )
    assert _field(itself) == "manager"
    loop = hr.patch(
        f"/api/v1/employees/{boss.pk}/", {"manager": report.pk}, format="json"
    )
    assert _field(loop) == "manager"
    boss.refresh_from_db()
    assert boss.manager_id is None


def test_a_webhook_url_with_an_impossible_port_is_refused():
    dpo = client_for("DPO")
    answer = dpo.post(
        "/api/v1/webhooks/",
        {"url": "https://93.184.215.14:99999/", "events": ["campaign.launched"]},
        format="json",
    )
    assert _field(answer) == "url"
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("form", ["full-width", "trailing space", "30 digits"])
def test_an_id_that_is_not_a_plain_number_is_no_address(hr, form):
    pk = EmployeeFactory().pk
    assert hr.get(f"/api/v1/employees/{pk}/").status_code == 200
    path = {
        "full-width": "".join(chr(0xFF10 + int(d)) for d in str(pk)),
        "trailing space": f"{pk}%20",
        "30 digits": "9" * 30,
    }[form]
    assert hr.get(f"/api/v1/employees/{path}/").status_code == 404


def test_a_wrong_method_is_named_in_the_title(hr):
    answer = hr.put("/api/v1/employees/", {}, format="json")
    assert answer.status_code == 405
    assert "{method}" not in answer.json()["title"]
    assert "PUT" in answer.json()["title"]


@pytest.mark.parametrize(
    "path, name",
    [
        ("/api/v1/employees/", "country"),
        ("/api/v1/employees/", "updated_since"),
        ("/api/v1/campaigns/", "status"),
    ],
)
def test_a_nul_character_in_a_filter_is_refused(hr, path, name):
    # PostgreSQL refuses NUL in a query: it was a 500 there.
    assert _field(hr.get(path, {name: "FR\x00"})) == name


@pytest.mark.parametrize(
    ("change", "field"),
    [({"hr_id": "H-ANN"}, "hr_id"), ({"email": "ANN@example.com"}, "email")],
)
def test_a_value_another_employee_holds_is_refused_on_its_own_field(hr, change, field):
    EmployeeFactory(hr_id="H-ANN", email="ann@example.com")
    bob = EmployeeFactory(hr_id="H-BOB", email="bob@example.com")
    answer = hr.patch(f"/api/v1/employees/{bob.pk}/", change, format="json")
    assert _field(answer) == field
    bob.refresh_from_db()
    assert (bob.hr_id, bob.email) == ("H-BOB", "bob@example.com")


@pytest.mark.parametrize("through", ["directly", "through a report"])
def test_a_post_matching_someone_cannot_make_them_their_own_manager(hr, through):
    ann = EmployeeFactory(hr_id="H-ANN", email="ann@example.com")
    report = EmployeeFactory(manager=ann)
    manager = ann if through == "directly" else report
    body = {"hr_id": "H-ANN", "email": "ann@example.com", "manager": manager.pk}
    answer = hr.post("/api/v1/employees/", body, format="json")
    assert _field(answer) == "manager"
    ann.refresh_from_db()
    assert ann.manager_id is None
    # The same POST with a manager outside Ann's line goes through.
    body["manager"] = EmployeeFactory().pk
    assert hr.post("/api/v1/employees/", body, format="json").status_code == 200


@pytest.mark.parametrize("cursor", ["zzz", "bz0tMQ==", "%00"])
def test_a_cursor_the_api_did_not_give_is_a_400_on_cursor(hr, cursor):
    EmployeeFactory.create_batch(3)
    answer = hr.get("/api/v1/employees/", {"cursor": cursor, "page_size": 1})
    assert _field(answer) == "cursor"
    first = hr.get("/api/v1/employees/", {"page_size": 1}).json()
    assert hr.get(first["next"]).status_code == 200  # a real one still works


def test_an_unchanged_manager_in_a_loop_does_not_block_a_patch(hr):
    """As in the admin: a loop the staff file brought in is refused only
    when a request makes it, not on every later change."""
    ann = EmployeeFactory(email="ann@example.com")
    bob = EmployeeFactory(manager=ann)
    Employee.objects.filter(pk=ann.pk).update(manager=bob)
    change = {"first_name": "Annie", "manager": bob.pk}
    answer = hr.patch(f"/api/v1/employees/{ann.pk}/", change, format="json")
    assert answer.status_code == 200, answer.content
    assert Employee.objects.get(pk=ann.pk).first_name == "Annie"
