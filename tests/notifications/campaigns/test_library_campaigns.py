"""A campaign started from a ready-made template gets the texts in the
languages the organisation configured, the DPO is reminded to have the
translations reviewed, and the launch check for missing languages still
holds when the list is narrowed."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from django.urls import reverse

from common.languages import EU_LANGUAGE_CODES, EU_LANGUAGES
from notifications.campaigns import library, services
from notifications.models import Campaign, CampaignStatus
from tests.campaign_factories import PARIS, EmployeeFactory

NARROW = [("de", "Deutsch"), ("en", "English"), ("pl", "Polski")]
DEADLINE = datetime.now(PARIS).replace(microsecond=0) + timedelta(days=60)


def make(template: str, name: str = "From the library") -> Campaign:
    return services.campaign_create(name=name, deadline=DEADLINE, template=template)


def languages_of(campaign: Campaign) -> set[str]:
    return set(
        campaign.contents.filter(is_current=True).values_list("language", flat=True)
    )


@pytest.mark.parametrize("slug", sorted(library.TEMPLATES))
@override_settings(LANGUAGES=list(EU_LANGUAGES))
def test_all_24_configured_languages_get_the_texts_and_labels(db, slug):
    campaign = make(slug)
    assert languages_of(campaign) == EU_LANGUAGE_CODES
    for answer in campaign.answer_choices:
        assert set(answer["labels"]) == EU_LANGUAGE_CODES
    assert (
        campaign.contents.get(language="de").subject
        == (library.TEMPLATES[slug].contents["de"]["subject"])
    )


@pytest.mark.parametrize("slug", sorted(library.TEMPLATES))
@override_settings(LANGUAGES=NARROW, LANGUAGE_CODE="en")
def test_a_narrowed_list_gets_only_its_languages(db, slug):
    campaign = make(slug)
    assert languages_of(campaign) == {"de", "en", "pl"}
    for answer in campaign.answer_choices:
        assert set(answer["labels"]) == {"de", "en", "pl"}


@override_settings(LANGUAGES=NARROW, LANGUAGE_CODE="en")
def test_the_dpo_is_reminded_of_the_unreviewed_translations_until_edited(db):
    campaign = make("meta-ai-objection")
    assert library.unreviewed_translations(campaign) == ["de", "pl"]
    reminder = library.review_reminder(campaign)
    assert "Deutsch (de)" in reminder and "Polski (pl)" in reminder
    assert "(en)" not in reminder  # an original needs no review

    reviewed = dict(library.META_AI_OBJECTION.contents["de"])
    reviewed["subject"] = "Meta AI: Ihre öffentlichen Inhalte (geprüft)"
    services.content_save(campaign=campaign, language="de", fields=reviewed)
    assert library.unreviewed_translations(campaign) == ["pl"]

    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.RUNNING)
    campaign.refresh_from_db()
    assert library.review_reminder(campaign) == ""  # only before launch


@override_settings(LANGUAGES=[("en", "English"), ("fr", "Français")])
def test_no_reminder_when_only_the_originals_are_configured(db):
    campaign = make("linkedin-ai-optout")
    assert languages_of(campaign) == {"en", "fr"}
    assert library.review_reminder(campaign) == ""


@override_settings(LANGUAGES=NARROW, LANGUAGE_CODE="en")
def test_the_launch_check_names_a_language_the_audience_uses_but_the_campaign_lacks(
    db,
):
    EmployeeFactory(language="de")
    EmployeeFactory(language="pl")
    campaign = services.campaign_create(name="German only", deadline=DEADLINE)
    fields = dict(library.LINKEDIN_AI_OPTOUT.contents["de"])
    services.content_save(campaign=campaign, language="de", fields=fields)

    problems = [str(p) for p in services.campaign_launch_problems(campaign=campaign)]
    missing = [p for p in problems if "there is no content in it" in p]
    assert len(missing) == 1
    assert "pl" in missing[0] and "(en)" in missing[0]


@override_settings(LANGUAGES=NARROW, LANGUAGE_CODE="en")
def test_a_template_campaign_falls_back_to_the_default_language_for_others(db):
    EmployeeFactory(language="mt")  # not configured here: reads the default
    campaign = make("linkedin-ai-optout")
    problems = [str(p) for p in services.campaign_launch_problems(campaign=campaign)]
    assert not [p for p in problems if "there is no content in it" in p]


@pytest.fixture
def dpo(db) -> User:
    return User.objects.create_superuser("dpo", "dpo@example.com", "pw")


@override_settings(LANGUAGES=[("de", "Deutsch"), ("en", "English"), ("fr", "Français")])
def test_the_admin_shows_the_library_and_warns_on_the_campaign_page(client, dpo):
    client.force_login(dpo)
    add = client.get(reverse("admin:notifications_campaign_add")).content.decode()
    assert "Ready-made templates" in add
    assert (
        "https://www.dataprotection.ie/en/news-media/latest-news/dpc-statement-meta-ai"
        in add
    )
    assert "Translated, to be reviewed before launch: Deutsch (de)" in add

    response = client.post(
        reverse("admin:notifications_campaign_add"),
        {
            "name": "Meta 2026",
            "deadline_0": DEADLINE.strftime("%Y-%m-%d"),
            "deadline_1": "12:00",
            "time_zone": "Europe/Paris",
            "template": "meta-ai-objection",
            "window_weekdays": ["0", "1", "2", "3", "4"],
            "window_start": "09:00",
            "window_end": "17:00",
            "answer_choices": "[]",
        },
        follow=True,
    )
    assert response.status_code == 200
    campaign = Campaign.objects.get(name="Meta 2026")
    assert languages_of(campaign) == {"de", "en", "fr"}
    assert "Deutsch (de)" in response.content.decode()  # the message at creation

    page = client.get(
        reverse("admin:notifications_campaign_change", args=[campaign.pk])
    ).content.decode()
    assert 'id="review-reminder"' in page
    assert "have each one reviewed" in page


@override_settings(LANGUAGES=NARROW, LANGUAGE_CODE="en")
def test_the_dpo_adds_content_in_any_configured_language_in_the_admin(client, dpo):
    campaign = services.campaign_create(name="Polish too", deadline=DEADLINE)
    text = library.META_AI_OBJECTION.contents["pl"]
    local = DEADLINE.astimezone(PARIS)
    client.force_login(dpo)
    response = client.post(
        reverse("admin:notifications_campaign_change", args=[campaign.pk]),
        {
            "name": campaign.name,
            "deadline_0": local.strftime("%Y-%m-%d"),
            "deadline_1": local.strftime("%H:%M"),
            "time_zone": campaign.time_zone,
            "window_start": "09:00",
            "window_end": "17:00",
            "window_weekdays": ["0", "1", "2", "3", "4"],
            "answer_choices-TOTAL": "0",
            "contents-TOTAL_FORMS": "1",
            "contents-INITIAL_FORMS": "0",
            "contents-0-language": "pl",
            "contents-0-subject": text["subject"],
            "contents-0-body_text": text["body_text"],
            "contents-0-page_text": text["page_text"],
            "steps-TOTAL_FORMS": "0",
            "steps-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert languages_of(campaign) == {"pl"}
