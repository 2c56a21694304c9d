from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from notifications.campaigns import content, services
from notifications.models import CampaignContent, CampaignStatus, StepKind
from tests.campaign_factories import PARIS, EmployeeFactory, campaign_make

NOW = datetime(2025, 10, 13, 10, 0, tzinfo=PARIS)
FIELDS = {
    "subject": "Action needed before {{ deadline }}",
    "body_text": "Hello {{ first_name }} {{ last_name }},\n\n"
    "{{ days_left }} days left.\n\nConfirm: {{ ack_url }}\n"
    "See https://evil.example/login too",
    "body_html": "",
    "page_text": "Do it before {{ deadline }}.",
}


def test_it_rejects_an_unknown_placeholder_naming_it():
    with pytest.raises(ValidationError) as excinfo:
        content.content_validate({**FIELDS, "body_text": "Hi {{ firstname }}"})
    assert "body_text" in excinfo.value.message_dict
    message = excinfo.value.message_dict["body_text"][0]
    assert "{{ firstname }}" in message
    assert "{{ first_name }}" in message  # lists what is allowed


@pytest.mark.parametrize(
    "typo",
    ["Bonjour {{ first_name },", "Bonjour { first_name }},", "Bonjour {{first_name"],
)
def test_it_rejects_a_placeholder_left_open(typo):
    """Sent as typed otherwise: the person would read the braces."""
    errors = content.content_errors({**FIELDS, "subject": typo})
    assert list(errors) == ["subject"]
    assert "not closed" in errors["subject"][0]


def test_it_requires_the_personal_link_in_each_body():
    without_link = {**FIELDS, "body_text": "Hello {{ first_name }}, see the intranet."}
    errors = content.content_errors(without_link)
    assert list(errors) == ["body_text"]
    assert "{{ ack_url }}" in errors["body_text"][0]

    html = {**FIELDS, "body_html": "<p>Hello {{ first_name }}</p>"}
    assert list(content.content_errors(html)) == ["body_html"]
    # No HTML written: it is generated from the text, link included.
    assert content.content_errors({**FIELDS, "body_html": ""}) == {}


def test_it_rejects_template_tags():
    errors = content.content_errors({**FIELDS, "page_text": "{% if x %}y{% endif %}"})
    assert list(errors) == ["page_text"]


def test_it_accepts_known_placeholders_with_any_spacing():
    assert (
        content.content_errors({**FIELDS, "subject": "{{first_name}} {{  deadline }}"})
        == {}
    )


@pytest.mark.django_db
def test_it_refuses_to_save_an_unknown_placeholder():
    campaign = campaign_make(template="")
    with pytest.raises(ValidationError):
        services.content_save(
            campaign=campaign, language="en", fields={**FIELDS, "subject": "{{ name }}"}
        )
    assert not CampaignContent.objects.filter(campaign=campaign).exists()


@pytest.mark.django_db
def test_it_formats_the_deadline_in_the_recipient_language():
    campaign = campaign_make()
    employee = EmployeeFactory(language="fr")
    step = campaign.steps.get(kind=StepKind.FIRST)
    fr = services.message_for_employee(step=step, employee=employee, now=NOW)
    assert "3 novembre 2025" in fr.body_text
    employee.language = "en"
    en = services.message_for_employee(step=step, employee=employee, now=NOW)
    assert "Nov. 3, 2025" in en.body_text or "November 3, 2025" in en.body_text
    assert en.language == "en"
    assert "From 3 November 2025, LinkedIn" in en.body_text


@pytest.mark.django_db
def test_it_renders_placeholders_and_escapes_html():
    campaign = campaign_make(template="")
    services.content_save(campaign=campaign, language="fr", fields=FIELDS)
    employee = EmployeeFactory(first_name="<b>Zoé</b>", last_name="O'Neil")
    step = campaign.steps.get(kind=StepKind.FIRST)
    message = services.message_for_employee(step=step, employee=employee, now=NOW)
    assert "Hello <b>Zoé</b> O'Neil," in message.body_text
    assert "21 days left." in message.body_text
    assert "&lt;b&gt;Zoé&lt;/b&gt;" in message.body_html
    assert "<b>Zoé</b>" not in message.body_html
    # Only our own link is clickable; other URLs stay visible text.
    assert '<a href="http://localhost:8000/a/preview-link/">' in message.body_html
    assert 'href="https://evil.example' not in message.body_html
    assert message.subject == "Action needed before 3 novembre 2025"


@pytest.mark.django_db
def test_it_prefixes_reminders_and_last_calls():
    campaign = campaign_make()
    employee = EmployeeFactory(language="en")
    reminder = services.message_for_employee(
        step=campaign.steps.get(kind=StepKind.REMINDER), employee=employee, now=NOW
    )
    last = services.message_for_employee(
        step=campaign.steps.get(kind=StepKind.LAST_CALL), employee=employee, now=NOW
    )
    assert reminder.subject.startswith("Reminder:")
    assert last.subject.startswith("Last call:")


@pytest.mark.django_db
def test_it_falls_back_to_the_default_language(settings):
    settings.LANGUAGE_CODE = "fr"
    campaign = campaign_make(template="")
    services.content_save(campaign=campaign, language="fr", fields=FIELDS)
    found = content.content_current(campaign, "en")
    assert found is not None and found.language == "fr"


@pytest.mark.django_db
def test_it_edits_a_draft_in_place():
    campaign = campaign_make(template="")
    first = services.content_save(campaign=campaign, language="fr", fields=FIELDS)
    second = services.content_save(
        campaign=campaign, language="fr", fields={**FIELDS, "subject": "New"}
    )
    assert second.pk == first.pk and second.version == 1
    assert CampaignContent.objects.filter(campaign=campaign).count() == 1


@pytest.mark.django_db
def test_it_creates_a_new_version_after_launch_and_keeps_the_old_one():
    EmployeeFactory()
    campaign = campaign_make()
    services.campaign_launch(campaign=campaign, now=NOW)
    before = content.content_current(campaign, "fr")
    fields = {name: getattr(before, name) for name in content.CONTENT_FIELDS}
    after = services.content_save(
        campaign=campaign, language="fr", fields={**fields, "subject": "Corrigé"}
    )
    before.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED
    assert (before.version, before.is_current) == (1, False)
    assert (after.version, after.is_current) == (2, True)
    assert after.sha256 != before.sha256
    assert content.content_current(campaign, "fr").pk == after.pk


@pytest.mark.django_db
def test_it_ignores_a_save_that_changes_nothing():
    EmployeeFactory()
    campaign = campaign_make()
    services.campaign_launch(campaign=campaign, now=NOW)
    current = content.content_current(campaign, "en")
    fields = {name: getattr(current, name) for name in content.CONTENT_FIELDS}
    again = services.content_save(campaign=campaign, language="en", fields=fields)
    assert again.pk == current.pk
    assert campaign.contents.filter(language="en").count() == 1


@pytest.mark.django_db
def test_it_lists_unacknowledged_reports_in_the_manager_digest():
    manager = EmployeeFactory(language="en", first_name="Maya")
    late = EmployeeFactory(manager=manager, first_name="Late")
    done = EmployeeFactory(manager=manager, first_name="Done")
    campaign = campaign_make()
    services.campaign_launch(campaign=campaign, now=NOW)
    campaign.recipients.filter(employee=done).update(acknowledged_at=NOW)
    digest = services.message_for_employee(
        step=campaign.steps.get(kind=StepKind.MANAGER_DIGEST), employee=manager, now=NOW
    )
    assert late.email in digest.body_text
    assert done.email not in digest.body_text
    assert "Hello Maya," in digest.body_text
    assert campaign.reference in digest.body_text


@pytest.mark.django_db
def test_a_preview_never_shows_the_persons_own_link_and_counts_days_from_the_step():
    """A preview is open to viewers and a test lands in the admin's mailbox:
    neither may carry a link that acknowledges for the person."""
    from django.utils import timezone

    from notifications.models import Recipient

    deadline = timezone.now() + timedelta(days=30)
    campaign = campaign_make(
        deadline=deadline, window=services.WindowSpec(enabled=False)
    )
    employee = EmployeeFactory(language="en")
    services.campaign_launch(campaign=campaign)
    own_link = services.recipient_token(
        Recipient.objects.get(campaign=campaign, employee=employee)
    )
    last_call = campaign.steps.get(kind=StepKind.LAST_CALL)

    message = services.message_for_employee(step=last_call, employee=employee)

    assert own_link not in message.body_text + message.body_html
    assert "/a/preview-link/" in message.body_text
    days = (deadline - last_call.due_at).days
    assert 0 < days < 30
    assert f"{days} days left" in message.body_text or (
        days == 1 and "1 day left" in message.body_text
    )
