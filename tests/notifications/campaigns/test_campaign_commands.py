from __future__ import annotations

import json
from datetime import datetime, time
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import translation

from notifications.campaigns import services
from notifications.dashboard.figures import campaign_dashboard
from notifications.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Step,
    StepStatus,
)
from tests.campaign_factories import PARIS, EmployeeFactory


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def future_deadline() -> str:
    return f"{datetime.now(PARIS).year + 1}-11-03"


@pytest.mark.django_db
def test_it_creates_a_campaign_and_prints_its_id_last(future_deadline):
    out = run(
        "create_campaign",
        "LinkedIn",
        "--deadline",
        future_deadline,
        "--template",
        "linkedin-ai-optout",
        "--department",
        "Sales",
        "--department",
        "IT",
        "--country",
        "FR",
        "--language",
        "fr",
        "--window",
        "08:30-18:00",
    )
    campaign = Campaign.objects.get(pk=int(out.strip().splitlines()[-1]))
    assert campaign.name == "LinkedIn"
    assert campaign.status == CampaignStatus.DRAFT
    assert campaign.departments == ["Sales", "IT"]
    assert campaign.countries == ["FR"] and campaign.languages == ["fr"]
    assert (campaign.window_start, campaign.window_end) == (time(8, 30), time(18))
    assert campaign.deadline.astimezone(PARIS).hour == 0
    assert campaign.contents.count() == len(settings.LANGUAGES)  # the template has 24


@pytest.mark.django_db
def test_it_creates_with_a_deadline_time_and_no_window(future_deadline):
    out = run(
        "create_campaign",
        "Anytime",
        "--deadline",
        f"{future_deadline}T18:30",
        "--window",
        "always",
    )
    campaign = Campaign.objects.get(pk=int(out.split()[-1]))
    assert campaign.deadline.astimezone(PARIS).strftime("%H:%M") == "18:30"
    assert campaign.window_enabled is False


@pytest.mark.django_db
def test_it_launches_and_enrols_with_launch(future_deadline):
    EmployeeFactory.create_batch(3)
    out = run(
        "create_campaign",
        "Now",
        "--deadline",
        future_deadline,
        "--template",
        "linkedin-ai-optout",
        "--launch",
    )
    campaign = Campaign.objects.get(pk=int(out.split()[-1]))
    assert campaign.status == CampaignStatus.SCHEDULED
    assert campaign.recipients.exclude(token_hash=None).count() == 3


@pytest.mark.django_db
def test_it_refuses_launch_without_content_and_creates_nothing(future_deadline):
    EmployeeFactory()
    with pytest.raises(CommandError, match="no message content"):
        run("create_campaign", "Empty", "--deadline", future_deadline, "--launch")
    assert not Campaign.objects.exists()


@pytest.mark.django_db
def test_it_rejects_a_bad_deadline_and_window():
    with pytest.raises(CommandError, match="--deadline"):
        run("create_campaign", "X", "--deadline", "3/11/2025")
    with pytest.raises(CommandError, match="HH:MM-HH:MM"):
        run("create_campaign", "X", "--deadline", "2030-01-01", "--window", "9-5pm")
    assert not Campaign.objects.exists()


def launched_by_command(name: str, deadline: str) -> Campaign:
    """A campaign created and launched by create_campaign, from its printed id."""
    out = run(
        "create_campaign",
        name,
        "--deadline",
        deadline,
        "--template",
        "linkedin-ai-optout",
        "--launch",
    )
    return Campaign.objects.get(pk=int(out.split()[-1]))


@pytest.mark.django_db
def test_it_prints_status_as_json_by_name_or_id(future_deadline):
    EmployeeFactory.create_batch(2)
    campaign = launched_by_command("Status", future_deadline)
    first = campaign.steps.get(kind="first")
    one, two = campaign.recipients.all()
    Delivery.objects.create(step=first, recipient=one, status=DeliveryStatus.DELIVERED)
    Delivery.objects.create(step=first, recipient=two, status=DeliveryStatus.FAILED)
    one.acknowledged_at = datetime.now(PARIS)
    one.save()

    by_name = json.loads(run("campaign_status", "Status", "--json"))
    by_id = json.loads(run("campaign_status", str(campaign.pk), "--json"))
    assert by_name == by_id
    assert by_name["id"] == campaign.id
    assert by_name["name"] == "Status"
    assert by_name["status"] == "scheduled"
    assert by_name["deadline"].startswith(future_deadline)
    assert (by_name["audience"], by_name["acknowledged"]) == (2, 1)
    steps = {s["kind"]: s for s in by_name["steps"]}
    assert set(steps) == {"first", "reminder", "manager_digest", "last_call"}
    assert {
        k: steps["first"][k]
        for k in ("targeted", "queued", "sent", "failed", "delivered", "bounced")
    } == {
        "targeted": 2,
        "queued": 0,
        "sent": 1,
        "failed": 1,
        "delivered": 1,
        "bounced": 0,
    }
    assert steps["reminder"]["targeted"] == 1  # the unacknowledged one
    assert steps["first"]["due"]


@pytest.mark.django_db
def test_it_prints_a_readable_status(future_deadline):
    run("create_campaign", "Readable", "--deadline", future_deadline)
    out = run("campaign_status", "Readable")
    assert "Readable" in out and "manager_digest" in out


@pytest.mark.django_db
def test_it_prints_the_status_in_the_readers_language(future_deadline):
    run("create_campaign", "Lisible", "--deadline", future_deadline)
    with translation.override("fr"):
        out = run("campaign_status", "Lisible")
        with pytest.raises(CommandError, match="Aucune campagne"):
            run("campaign_status", "nope")
    assert "Public ciblé 0, prises de connaissance 0" in out
    assert "ciblés" in out.splitlines()[2] and "targeted" not in out


@pytest.mark.django_db
def test_it_reports_an_unknown_campaign():
    with pytest.raises(CommandError, match="No campaign"):
        run("campaign_status", "nope", "--json")


@pytest.mark.django_db
def test_it_refuses_to_launch_from_the_shell_when_two_dpos_must_approve(settings):
    settings.LAUNCH_REQUIRES_APPROVAL = True
    with pytest.raises(CommandError, match="LAUNCH_REQUIRES_APPROVAL"):
        call_command(
            "create_campaign",
            "Four eyes",
            "--deadline",
            "2030-01-10",
            "--template",
            "linkedin-ai-optout",
            "--launch",
            stdout=StringIO(),
        )
    assert not Campaign.objects.filter(name="Four eyes").exists()


@pytest.mark.django_db
def test_it_reports_nobody_targeted_by_a_step_that_never_went_out(future_deadline):
    EmployeeFactory.create_batch(2)
    campaign = launched_by_command("Missed", future_deadline)
    first = campaign.steps.get(kind="first")
    Step.objects.filter(pk=first.pk).update(status=StepStatus.MISSED)
    services.campaign_cancel(campaign=campaign)  # the others: skipped
    status = json.loads(run("campaign_status", "Missed", "--json"))
    steps = {s["kind"]: s for s in status["steps"]}
    assert steps["first"]["status"] == "missed"
    assert {s["status"] for k, s in steps.items() if k != "first"} == {"skipped"}
    assert {s["kind"]: s["targeted"] for s in status["steps"]} == dict.fromkeys(
        steps, 0
    )
    dashboard = campaign_dashboard(campaign)  # the dashboard says the same
    assert {s.kind: s.targeted for s in dashboard.steps} == dict.fromkeys(steps, 0)
    assert status["audience"] == 2  # the campaign's own figures stay
