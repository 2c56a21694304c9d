from __future__ import annotations

import re
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
    assert "3 November 2025" in en.body_text
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
    # The deadline is 3 November 00:00: written as the last minute before it.
    assert message.subject.startswith("Action needed before 2 novembre 2025 à 23")


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


# --- Mail that looks professional ------------------------------------------------

NBSP = "\u00a0"
DEADLINE = datetime(2026, 12, 14, 18, 0, tzinfo=PARIS)


@pytest.mark.parametrize(
    ("language", "zone", "expected"),
    [
        ("en", "Europe/Paris", "14 December 2026, 18:00 (Paris time)"),
        (
            "fr",
            "Europe/Paris",
            f"14 décembre 2026 à 18{NBSP}h{NBSP}00 (heure de Paris)",
        ),
        ("en", "America/New_York", "14 December 2026, 12:00 (New York time)"),
        # City names as each language writes them (CLDR), not the zone's id.
        (
            "fr",
            "Europe/London",
            f"14 décembre 2026 à 17{NBSP}h{NBSP}00 (heure de Londres)",
        ),
        ("en", "UTC", "14 December 2026, 17:00 (UTC)"),
    ],
)
def test_it_writes_the_deadline_as_people_of_each_language_do(language, zone, expected):
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    assert content.deadline_display(DEADLINE, tz=tz, language=language) == expected


def test_a_deadline_at_midnight_is_the_last_minute_of_the_day_before():
    """00:00 on the 14th written as "14 December" would read as "during the
    14th": the day shown is the last day one can act (README, Languages)."""
    midnight = datetime(2026, 12, 14, 0, 0, tzinfo=PARIS)
    assert content.deadline_display(midnight, tz=PARIS, language="fr") == (
        f"13 décembre 2026 à 23{NBSP}h{NBSP}59 (heure de Paris)"
    )


@pytest.mark.django_db
def test_the_acknowledgement_page_and_the_mail_show_the_same_deadline():
    campaign = campaign_make(deadline=DEADLINE)
    values = content.placeholder_values(
        campaign=campaign,
        language="en",
        first_name="",
        last_name="",
        token="t",
        now=NOW,
    )
    assert values["deadline"] == "14 December 2026, 18:00 (Paris time)"


BODY = {
    "fr": "Bonjour {{ first_name }},\n\nCe réglage est activé par défaut : "
    "faites-le avant le {{ deadline }} ; merci !\n"
    "1. Ouvrez « Préférences et confidentialité ».\n"
    "2. Décochez l'option.\n\nVotre lien :\n{{ ack_url }}\n\nLe DPO",
    "en": "Hello {{ first_name }},\n\nThe setting is on by default: do it "
    "before {{ deadline }}; thanks!\n1. Open Settings.\n"
    "2. Untick the option.\n\nYour link:\n{{ ack_url }}\n\nThe DPO",
}


def _message(language: str, first_name: str = "Zoé ?") -> content.RenderedMessage:
    campaign = campaign_make(
        name=f"Mail {language} {first_name}",
        deadline=DEADLINE,
        dpo_contact="dpo@example.com",
    )
    version = campaign.contents.get(language=language)
    version.body_text, version.body_html = BODY[language], ""
    return content.message_render(
        campaign=campaign,
        content=version,
        kind=StepKind.FIRST,
        first_name=first_name,
        last_name="",
        token="tok",
        now=NOW,
    )


@pytest.mark.django_db
def test_it_spaces_french_punctuation_but_not_names_links_or_english():
    fr = _message("fr")
    for part in (fr.body_text, fr.body_html):
        assert f"défaut{NBSP}: faites" in part and f"{NBSP};" in part
        assert f"merci{NBSP}!" in part
        assert f"«{NBSP}Préférences et confidentialité{NBSP}»" in part
        assert "/a/tok/" in part and "Bonjour Zoé ?," in part  # the name as given
        # The subject (the <title>) stays as the header carries it.
        shown = re.sub(r"<title>.*?</title>", "", part.replace("Zoé ?", ""))
        assert " :" not in shown and " ;" not in shown and "://" in shown
    assert f"Référence de la campagne{NBSP}:" in fr.body_html
    assert "Je confirme l&#x27;avoir lu" in fr.body_html  # the button's words
    en = _message("en", first_name="Zoe")
    assert NBSP not in en.body_text + en.body_html


@pytest.mark.django_db
def test_the_html_part_has_a_button_the_link_under_it_and_the_steps_as_a_list():
    message = _message("en", first_name="Zoe")
    html = message.body_html
    link = re.search(r"https?://\S+/a/tok/", message.body_text).group(0)
    button = re.search(r'<table role="presentation"[^>]*>.*?</table>', html, re.S)
    assert f'href="{link}"' in button.group(0) and "bgcolor=" in button.group(0)
    assert "Confirm that I have read it" in button.group(0)
    assert f">{link}</a>" in html[button.end() :]  # the plain address below
    steps = re.search(r"<ol[^>]*>(.*?)</ol>", html, re.S).group(1)
    assert steps.count("<li") == 2 and "Open Settings." in steps
    assert 'name="color-scheme"' in html and "width=device-width" in html
    # Nothing fixed but a maximum: it fits a 375 px phone.
    assert not re.search(r'width="\d+"|(?<![-\w])width:\s*\d+px', html)
    # The plain text: the link alone on its line, the steps numbered.
    lines = message.body_text.splitlines()
    assert link in lines
    assert [line[:3] for line in lines if re.match(r"\d\. ", line)] == ["1. ", "2. "]
