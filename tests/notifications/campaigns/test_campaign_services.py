from __future__ import annotations

from datetime import datetime

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notifications.campaigns import services
from notifications.campaigns.selectors import audience_filter, campaign_audience
from notifications.campaigns.tokens import token_hash
from notifications.models import (
    CampaignContent,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    StepKind,
    StepStatus,
)
from tests.campaign_factories import PARIS, EmployeeFactory, campaign_make

NOW = datetime(2025, 10, 1, 10, 0, tzinfo=PARIS)


def launch(campaign, now=NOW) -> int:
    return services.campaign_launch(campaign=campaign, now=now)


@pytest.mark.django_db
def test_it_selects_every_active_employee_without_filters():
    EmployeeFactory.create_batch(3)
    EmployeeFactory(is_active=False)
    assert audience_filter().count() == 3


@pytest.mark.django_db
def test_it_narrows_the_audience_by_each_filter():
    match = EmployeeFactory(department="Sales", country="FR", language="fr")
    EmployeeFactory(department="Sales", country="BE", language="fr")
    EmployeeFactory(department="IT", country="FR", language="fr")
    EmployeeFactory(department="Sales", country="FR", language="en")
    found = audience_filter(departments=["sales"], countries=["FR"], languages=["fr"])
    assert list(found) == [match]
    assert audience_filter(departments=["Sales", "IT"]).count() == 4


@pytest.mark.django_db
def test_it_creates_a_draft_with_the_default_cadence_and_template():
    campaign = campaign_make()
    kinds = dict(campaign.steps.values_list("kind", "offset_days"))
    assert kinds == {
        StepKind.FIRST: 21,
        StepKind.REMINDER: 7,
        StepKind.MANAGER_DIGEST: 3,
        StepKind.LAST_CALL: 2,
    }
    assert campaign.status == CampaignStatus.DRAFT
    assert set(campaign.contents.values_list("language", flat=True)) == set(
        dict(settings.LANGUAGES)
    )
    assert campaign.asks_answer and len(campaign.answer_choices) == 3
    assert len(campaign.reference) == 8


@pytest.mark.django_db
def test_it_refuses_a_duplicate_name_and_an_unknown_template():
    campaign_make(name="Twice")
    with pytest.raises(ValidationError):
        campaign_make(name="Twice")
    with pytest.raises(ValidationError):
        campaign_make(name="Other", template="nope")


@pytest.mark.django_db
def test_it_launches_enrols_and_plans():
    EmployeeFactory.create_batch(4)
    EmployeeFactory(is_active=False)
    campaign = campaign_make()
    assert launch(campaign) == 4
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED
    assert campaign.launched_at == NOW
    assert campaign.recipients.count() == 4
    first = campaign.steps.get(kind=StepKind.FIRST)
    assert first.due_at == datetime(2025, 10, 13, 9, 0, tzinfo=PARIS)
    assert first.status == StepStatus.PENDING


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            {"dpo_contact": "privacy@corp.example", "reply_to": "hr@corp.example"},
            "privacy@corp.example",
        ),
        (
            {"reply_to": "hr@corp.example", "from_email": "news@corp.example"},
            "hr@corp.example",
        ),
        ({"from_email": "news@corp.example"}, "news@corp.example"),
        ({}, "dpo@example.com"),  # DEFAULT_FROM_EMAIL
    ],
)
def test_every_message_names_a_contact_even_when_none_was_given(
    settings, given, expected
):
    settings.DEFAULT_FROM_EMAIL = "dpo@example.com"
    employee = EmployeeFactory(language="en")
    campaign = campaign_make(**given)
    launch(campaign)
    campaign.refresh_from_db()
    message = services.message_for_employee(
        step=campaign.steps.get(kind=StepKind.FIRST), employee=employee, now=NOW
    )

    assert campaign.dpo_contact == expected
    assert f"Questions: {expected}" in message.body_text


@pytest.mark.django_db
def test_it_gives_each_recipient_a_personal_token_stored_hashed():
    EmployeeFactory.create_batch(3)
    campaign = campaign_make()
    launch(campaign)
    recipients = list(campaign.recipients.all())
    tokens = {services.recipient_token(r) for r in recipients}
    assert len(tokens) == 3
    for recipient in recipients:
        token = services.recipient_token(recipient)
        assert len(token) >= 43  # 256 bits in URL-safe base64
        assert recipient.token_hash == token_hash(token)
        assert token not in (recipient.token_hash, recipient.token_seed)


@pytest.mark.django_db
def test_it_skips_past_reminders_when_launched_late():
    EmployeeFactory()
    campaign = campaign_make()
    launch(campaign, now=datetime(2025, 10, 28, 10, 0, tzinfo=PARIS))
    steps = {s.kind: s for s in campaign.steps.all()}
    assert steps[StepKind.REMINDER].status == StepStatus.SKIPPED
    assert steps[StepKind.FIRST].status == StepStatus.PENDING
    assert steps[StepKind.FIRST].due_at == datetime(2025, 10, 28, 10, 0, tzinfo=PARIS)
    assert steps[StepKind.LAST_CALL].status == StepStatus.PENDING


@pytest.mark.django_db
def test_it_refuses_launch_when_a_language_has_no_content_and_no_fallback(settings):
    settings.LANGUAGE_CODE = "fr"
    EmployeeFactory(language="en")
    campaign = campaign_make()
    campaign.contents.filter(language="fr").delete()
    EmployeeFactory(language="fr")
    with pytest.raises(services.CampaignError) as excinfo:
        launch(campaign)
    assert "fr" in " ".join(excinfo.value.messages)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT
    assert not campaign.recipients.exists()


@pytest.mark.django_db
def test_it_launches_with_the_fallback_language(settings):
    settings.LANGUAGE_CODE = "fr"
    EmployeeFactory(language="en")
    campaign = campaign_make()
    campaign.contents.filter(language="en").delete()
    assert launch(campaign) == 1


@pytest.mark.django_db
def test_it_refuses_launch_with_an_unknown_placeholder():
    EmployeeFactory()
    campaign = campaign_make()
    # Written around the validation (e.g. an older row or a direct SQL edit).
    CampaignContent.objects.filter(campaign=campaign, language="fr").update(
        subject="Bonjour {{ prenom }}"
    )
    with pytest.raises(services.CampaignError) as excinfo:
        launch(campaign)
    assert "{{ prenom }}" in " ".join(excinfo.value.messages)


@pytest.mark.django_db
def test_it_refuses_launch_when_the_first_step_is_past_the_deadline():
    EmployeeFactory()
    campaign = campaign_make()
    with pytest.raises(services.CampaignError) as excinfo:
        # Saturday before a Monday 00:00 deadline: no opening left.
        launch(campaign, now=datetime(2025, 11, 1, 10, 0, tzinfo=PARIS))
    assert "first message" in " ".join(excinfo.value.messages)


@pytest.mark.django_db
def test_it_refuses_launch_with_an_empty_audience():
    campaign = campaign_make(departments=["Nobody"])
    EmployeeFactory(department="Sales")
    with pytest.raises(services.CampaignError):
        launch(campaign)


@pytest.mark.django_db
def test_it_launches_once():
    EmployeeFactory()
    campaign = campaign_make()
    launch(campaign)
    with pytest.raises(services.CampaignError):
        launch(campaign)
    assert campaign.recipients.count() == 1


@pytest.mark.django_db
def test_it_enrols_employees_added_after_launch_once():
    EmployeeFactory(department="Sales")
    campaign = campaign_make(departments=["Sales"])
    launch(campaign)
    newcomer = EmployeeFactory(department="Sales")
    EmployeeFactory(department="IT")
    EmployeeFactory(department="Sales", is_active=False)
    assert services.campaign_enrol_new(campaign) == 1
    assert services.campaign_enrol_new(campaign) == 0
    assert campaign.recipients.filter(employee=newcomer).exists()
    assert campaign.recipients.count() == 2


@pytest.mark.django_db
def test_it_enrols_in_bulk_not_one_query_per_employee():
    EmployeeFactory.create_batch(300)
    campaign = campaign_make()
    with CaptureQueriesContext(connection) as queries:
        services.campaign_enrol_new(campaign)
    assert campaign.recipients.count() == 300
    # One SELECT, then inserts of ~100 rows (SQLite's variable limit) or
    # 1000 rows (PostgreSQL) each.
    assert len(queries.captured_queries) <= 5


@pytest.mark.django_db
def test_it_pauses_resumes_and_cancels():
    EmployeeFactory()
    campaign = campaign_make()
    assert not services.campaign_pause(campaign=campaign)  # a draft
    launch(campaign)
    assert services.campaign_pause(campaign=campaign)
    assert campaign.status == CampaignStatus.PAUSED
    assert not services.campaign_pause(campaign=campaign)  # repeated
    assert services.campaign_resume(campaign=campaign)
    assert campaign.status == CampaignStatus.SCHEDULED
    assert not services.campaign_resume(campaign=campaign)
    assert services.campaign_cancel(campaign=campaign)
    assert campaign.status == CampaignStatus.CANCELLED
    assert not services.campaign_cancel(campaign=campaign)
    assert not campaign.steps.filter(status=StepStatus.PENDING).exists()


@pytest.mark.django_db
def test_it_resumes_a_started_campaign_as_running():
    EmployeeFactory()
    campaign = campaign_make()
    launch(campaign)
    campaign.steps.filter(kind=StepKind.FIRST).update(status=StepStatus.DONE)
    services.campaign_pause(campaign=campaign)
    services.campaign_resume(campaign=campaign)
    assert campaign.status == CampaignStatus.RUNNING


@pytest.mark.django_db
def test_it_skips_queued_deliveries_when_cancelled():
    EmployeeFactory.create_batch(2)
    campaign = campaign_make()
    launch(campaign)
    step = campaign.steps.get(kind=StepKind.FIRST)
    one, two = campaign.recipients.all()
    Delivery.objects.create(step=step, recipient=one, status=DeliveryStatus.QUEUED)
    Delivery.objects.create(step=step, recipient=two, status=DeliveryStatus.SENT)
    services.campaign_cancel(campaign=campaign)
    statuses = dict(Delivery.objects.values_list("recipient_id", "status"))
    assert statuses == {one.id: DeliveryStatus.SKIPPED, two.id: DeliveryStatus.SENT}


@pytest.mark.django_db
def test_it_keeps_the_audience_filters_on_the_campaign():
    EmployeeFactory(country="FR")
    EmployeeFactory(country="BE")
    campaign = campaign_make(countries=["BE"])
    assert campaign_audience(campaign).count() == 1


@pytest.mark.django_db
def test_it_sends_a_test_message_to_the_admin(mailoutbox):
    employee = EmployeeFactory(language="en", first_name="Ana")
    campaign = campaign_make(reply_to="dpo@example.com")
    step = campaign.steps.get(kind=StepKind.FIRST)
    services.campaign_send_test(step=step, employee=employee, to="admin@example.com")
    assert len(mailoutbox) == 1
    sent = mailoutbox[0]
    assert sent.to == ["admin@example.com"]
    assert sent.subject.startswith("[TEST]")
    assert "Hello Ana," in sent.body
    assert sent.reply_to == ["dpo@example.com"]
    assert sent.alternatives[0][1] == "text/html"


@pytest.mark.django_db
def test_it_addresses_digests_to_managers_with_pending_reports():
    from notifications.campaigns.selectors import digest_managers

    waiting = EmployeeFactory(department="Board")
    relaxed = EmployeeFactory(department="Board")
    gone = EmployeeFactory(department="Board", is_active=False)
    pending = EmployeeFactory(manager=waiting)
    done = EmployeeFactory(manager=relaxed)
    EmployeeFactory(manager=gone)
    campaign = campaign_make(departments=["Sales"])
    launch(campaign)
    campaign.recipients.filter(employee=done).update(acknowledged_at=NOW)
    assert list(digest_managers(campaign)) == [waiting]
    assert campaign.recipients.filter(employee=pending).exists()
