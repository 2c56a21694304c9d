"""Keys and roles through the API: 401 without a valid key, 403 beyond the role."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from api.keys import key_create, key_revoke
from api.models import ApiKey
from audit.models import AuditEntry
from tests.api.helpers import client_for
from tests.campaign_factories import EmployeeFactory, campaign_make

pytestmark = pytest.mark.django_db

NEW_EMPLOYEE = {"email": "new@example.com", "first_name": "N", "language": "fr"}


@pytest.fixture(autouse=True)
def _roles(roles):
    pass


def test_no_key_or_a_wrong_one_is_401():
    anonymous = APIClient()
    answer = anonymous.get("/api/v1/employees/")
    assert answer.status_code == 401
    assert answer["Content-Type"] == "application/problem+json"
    assert "Bearer" in answer["WWW-Authenticate"]
    anonymous.credentials(HTTP_AUTHORIZATION="Bearer nk_wrong")
    assert anonymous.get("/api/v1/employees/").status_code == 401


def test_a_revoked_or_expired_key_is_401():
    key, clear = key_create(name="old", role="DPO", actor="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {clear}")
    assert client.get("/api/v1/employees/").status_code == 200
    key_revoke(key=key, actor="test")
    assert client.get("/api/v1/employees/").status_code == 401
    _key, clear = key_create(
        name="short", role="DPO", actor="test", expires_at=timezone.now() - timedelta(1)
    )
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {clear}")
    assert client.get("/api/v1/employees/").status_code == 401


def test_the_command_prints_the_key_once_on_its_last_line(capsys):
    call_command("api_key", "hr-system", "--role", "HR")
    clear = capsys.readouterr().out.strip().splitlines()[-1]
    key = ApiKey.objects.get(name="hr-system")
    assert clear.startswith("nk_") and clear not in key.key_sha256
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {clear}")
    assert client.get("/api/v1/employees/").status_code == 200
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_a_viewer_reads_and_changes_nothing():
    employee = EmployeeFactory()
    viewer = client_for("Viewer")
    assert viewer.get("/api/v1/employees/").status_code == 200
    assert viewer.get("/api/v1/campaigns/").status_code == 200
    assert viewer.post("/api/v1/employees/", NEW_EMPLOYEE).status_code == 403
    assert (
        viewer.post(f"/api/v1/employees/{employee.pk}/deactivate/").status_code == 403
    )
    campaign = campaign_make(deadline=timezone.now() + timedelta(days=20))
    assert viewer.post(f"/api/v1/campaigns/{campaign.pk}/launch/").status_code == 403
    assert viewer.get("/api/v1/webhooks/").status_code == 403
    employee.refresh_from_db()
    assert employee.is_active


def test_hr_changes_staff_and_campaigns_but_not_webhooks():
    hr = client_for("HR")
    answer = hr.post("/api/v1/employees/", NEW_EMPLOYEE, format="json")
    assert answer.status_code == 201
    assert hr.get("/api/v1/webhooks/").status_code == 403
    created = hr.post(
        "/api/v1/webhooks/",
        {"url": "https://example.com/h", "events": ["campaign.launched"]},
        format="json",
    )
    assert created.status_code == 403


def test_a_dpo_key_manages_webhooks():
    dpo = client_for("DPO")
    assert dpo.get("/api/v1/webhooks/").status_code == 200


def test_changes_are_audited_with_the_keys_name():
    hr = client_for("HR", name="hr-system")
    hr.post("/api/v1/employees/", NEW_EMPLOYEE, format="json")
    entry = AuditEntry.objects.order_by("-seq").first()
    assert entry.username == "api:hr-system"


def test_it_throttles_per_key(settings):
    from django.core.cache import cache

    cache.clear()
    settings.API_THROTTLE_RATE = "3/min"
    client = client_for("Viewer")
    codes = [client.get("/api/v1/employees/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = client.get("/api/v1/employees/")
    assert int(limited["Retry-After"]) > 0
    assert client_for("HR").get("/api/v1/employees/").status_code == 200
    cache.clear()
