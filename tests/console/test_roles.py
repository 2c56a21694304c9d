from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from employees.models import Employee
from notifications.models import Campaign, CampaignStatus
from tests.campaign_factories import EmployeeFactory, campaign_make
from tests.factories import member_make

pytestmark = pytest.mark.django_db


def _login(client, group: str):
    user = member_make(group)
    client.force_login(user)
    return user


@pytest.fixture
def campaign() -> Campaign:
    EmployeeFactory()
    return campaign_make(deadline=timezone.now() + timedelta(days=40))


def _launch(client, campaign: Campaign):
    url = reverse(
        "admin:notifications_campaign_lifecycle", args=[campaign.pk, "launch"]
    )
    return client.post(url)


def test_it_creates_the_three_groups():
    assert set(Group.objects.values_list("name", flat=True)) >= {"DPO", "HR", "Viewer"}


def test_it_lets_a_viewer_look_but_not_launch(client, campaign):
    _login(client, "Viewer")
    change = reverse("admin:notifications_campaign_change", args=[campaign.pk])
    page = client.get(change)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content  # read-only form
    assert _launch(client, campaign).status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT
    staff = reverse("admin:employees_employee_changelist")
    assert client.get(staff).status_code == 200
    assert client.get(reverse("admin:employees_employee_add")).status_code == 403


def test_it_lets_hr_run_campaigns_and_the_directory(client, campaign):
    _login(client, "HR")
    assert client.get(reverse("admin:employees_employee_add")).status_code == 200
    response = _launch(client, campaign)
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED


def test_it_keeps_hr_away_from_evidence_audit_and_erasure(client, campaign):
    _login(client, "HR")
    employee = Employee.objects.first()
    index = client.get(reverse("admin:index"))
    assert b"/admin/audit/" not in index.content
    for url in (
        reverse("admin:audit_evidence_export", args=[campaign.pk, "csv"]),
        reverse("admin:audit_evidence_export", args=[campaign.pk, "html"]),
        reverse("admin:audit_auditentry_changelist"),
        reverse("admin:audit_person_export", args=[employee.pk]),
        reverse("admin:audit_person_erase", args=[employee.pk]),
        reverse("admin:audit_verify"),
    ):
        assert client.get(url).status_code == 403, url


def test_it_gives_the_dpo_evidence_and_the_audit_log(client, campaign):
    _login(client, "DPO")
    index = client.get(reverse("admin:index"))
    assert b"/admin/audit/auditentry/" in index.content
    url = reverse("admin:audit_evidence_export", args=[campaign.pk, "csv"])
    assert client.get(url).status_code == 200
    assert client.get(reverse("admin:audit_auditentry_changelist")).status_code == 200
    assert _launch(client, campaign).status_code == 302
