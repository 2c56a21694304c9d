from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone, translation

from audit.models import AuditAction, AuditEntry
from audit.services import audit_verify
from console.retention import purge_expired
from console.tasks import purge_expired_task
from employees.models import Employee
from notifications.models import Campaign, CampaignStatus, Delivery, Recipient
from tests.campaign_factories import EmployeeFactory
from tests.evidence_factories import campaign_sent

pytestmark = pytest.mark.django_db


def _finish(campaign: Campaign, days_ago: int) -> None:
    Campaign.objects.filter(pk=campaign.pk).update(
        status=CampaignStatus.FINISHED,
        finished_at=timezone.now() - timedelta(days=days_ago),
    )


@pytest.fixture
def old_and_recent(settings):
    settings.RETENTION_DAYS_AFTER_CAMPAIGN = 365
    old, recent = campaign_sent(name="Old"), campaign_sent(name="Recent")
    _finish(old.campaign, 400)
    _finish(recent.campaign, 10)
    return old, recent


def test_it_lists_without_changing_on_dry_run(old_and_recent, capsys):
    old, _recent = old_and_recent
    with translation.override("en"):
        call_command("purge_expired", "--dry-run")
    out = capsys.readouterr().out
    assert "Would anonymise campaign Old" in out
    assert "Recent" not in out
    assert Recipient.objects.filter(campaign=old.campaign, email="").count() == 0
    assert not AuditEntry.objects.filter(action=AuditAction.PURGE).exists()


def test_it_anonymises_expired_campaigns_and_keeps_the_counts(old_and_recent):
    old, recent = old_and_recent
    report = purge_expired()
    assert [c.name for c in report.campaigns] == ["Old"]
    people = Recipient.objects.filter(campaign=old.campaign)
    assert set(people.values_list("email", "first_name", "last_name")) == {("", "", "")}
    assert (
        not Delivery.objects.filter(step__campaign=old.campaign)
        .exclude(to_email="")
        .exists()
    )
    # The evidence that is kept: who acknowledged (by directory id), when,
    # the answer, the message statuses and content hashes.
    assert people.filter(acknowledged_at__isnull=False).count() == 1
    assert Recipient.objects.filter(campaign=recent.campaign, email="").count() == 0
    entry = AuditEntry.objects.get(action=AuditAction.PURGE)
    assert entry.after["recipients"] == 3
    assert entry.after["acknowledged"] == 1
    assert entry.after["deliveries"] == {"sent": 3}
    assert audit_verify().ok


def test_it_is_idempotent(old_and_recent):
    purge_expired()
    assert purge_expired().campaigns == []
    assert AuditEntry.objects.filter(action=AuditAction.PURGE).count() == 1


def test_it_erases_employees_deactivated_past_their_period(settings):
    settings.RETENTION_DAYS_INACTIVE_EMPLOYEE = 30
    now = timezone.now()
    gone = EmployeeFactory(is_active=False, deactivated_at=now - timedelta(days=31))
    recent = EmployeeFactory(is_active=False, deactivated_at=now - timedelta(days=5))
    active = EmployeeFactory()
    report = purge_expired()
    assert [e.pk for e in report.employees] == [gone.pk]
    gone.refresh_from_db()
    assert gone.first_name == "" and gone.email.endswith("@erased.invalid")
    assert Employee.objects.get(pk=recent.pk).first_name == recent.first_name
    assert Employee.objects.get(pk=active.pk).first_name == active.first_name
    entry = AuditEntry.objects.get(action=AuditAction.PURGE)
    assert entry.username == "system" and entry.reason == "retention"
    assert purge_expired().employees == []


def test_it_runs_as_a_daily_task(old_and_recent):
    assert purge_expired_task() == {"campaigns": 1, "employees": 0}


@pytest.mark.django_db(transaction=True)
def test_it_deletes_the_evidence_bundles_built_of_a_purged_campaign(
    old_and_recent, settings, tmp_path
):
    from console.bundle.jobs import bundle_path, bundle_request
    from console.models import EvidenceBundle
    from tests.factories import dpo_make

    settings.VAR_DIR = tmp_path
    settings.EVIDENCE_TSA_URL = ""
    old, recent = old_and_recent
    user = dpo_make()
    jobs = [bundle_request(campaign=c.campaign, user=user)[0] for c in (old, recent)]
    assert all(bundle_path(job).exists() for job in jobs)
    purge_expired()
    assert not bundle_path(jobs[0]).exists()  # the purged campaign's records
    assert bundle_path(jobs[1]).exists()
    assert list(EvidenceBundle.objects.values_list("campaign", flat=True)) == [
        recent.campaign.pk
    ]
