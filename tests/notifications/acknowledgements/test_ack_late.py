"""After the deadline: the page says so; an acknowledgement is still recorded
and marked late, unless the campaign closes at its deadline, when nothing is
recorded. A GET never changes anything."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from notifications.models import Acknowledgement, Campaign, Recipient
from tests.ack_helpers import confirmed_post, launched, link

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_link_state")]


def _past_deadline(campaign: Campaign, *, closes: bool = False) -> None:
    campaign.deadline = timezone.now() - timedelta(hours=1)
    campaign.closes_at_deadline = closes
    campaign.save(update_fields=["deadline", "closes_at_deadline"])


def _nothing_recorded(recipient: Recipient) -> None:
    recipient.refresh_from_db()
    assert recipient.acknowledged_at is None and recipient.answer == ""
    assert not Acknowledgement.objects.filter(recipient=recipient).exists()


@pytest.mark.parametrize(
    "lang, text",
    [
        ("en", "The deadline has passed. You can still acknowledge"),
        ("fr", "La date limite est passée. Vous pouvez encore"),
    ],
)
def test_it_says_the_deadline_has_passed_in_the_page_language(lang, text):
    campaign, [recipient] = launched(language=lang)
    _past_deadline(campaign)
    page = Client().get(link(recipient))
    assert page.status_code == 200
    assert text in page.content.decode()
    _nothing_recorded(recipient)  # a GET changes nothing


def test_it_says_nothing_of_the_deadline_before_it():
    _campaign, [recipient] = launched(language="en")
    page = Client().get(link(recipient)).content.decode()
    assert "The deadline has passed" not in page


def test_it_records_a_late_acknowledgement_and_says_it_was_late():
    campaign, [recipient] = launched(language="en")
    _past_deadline(campaign)
    page = Client().post(link(recipient), confirmed_post(campaign, "en"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "your acknowledgement is recorded" in text
    assert "(after the deadline)" in text
    recipient.refresh_from_db()
    assert recipient.acknowledged_at > campaign.deadline
    assert Acknowledgement.objects.filter(recipient=recipient).count() == 1
    again = Client().get(link(recipient)).content.decode()
    assert "Already acknowledged on" in again and "(after the deadline)" in again


def test_it_does_not_mark_an_acknowledgement_in_time_as_late():
    campaign, [recipient] = launched(language="en")
    text = Client().post(link(recipient), confirmed_post(campaign, "en"))
    assert "(after the deadline)" not in text.content.decode()


@pytest.mark.parametrize(
    "lang, text",
    [
        ("en", "acknowledgements are no longer accepted"),
        ("fr", "les prises de connaissance ne sont plus acceptées"),
    ],
)
def test_a_campaign_closing_at_the_deadline_offers_no_form(lang, text):
    campaign, [recipient] = launched(language=lang)
    _past_deadline(campaign, closes=True)
    page = Client().get(link(recipient))
    assert page.status_code == 200
    assert text in page.content.decode()
    assert 'name="confirm"' not in page.content.decode()
    _nothing_recorded(recipient)


def test_a_campaign_closing_at_the_deadline_refuses_and_records_nothing():
    campaign, [recipient] = launched(language="en")
    _past_deadline(campaign, closes=True)
    refused = Client().post(link(recipient), confirmed_post(campaign, "en"))
    assert refused.status_code == 410
    assert "Not recorded: the deadline has passed" in refused.content.decode()
    _nothing_recorded(recipient)


def test_a_campaign_closing_at_the_deadline_records_before_it():
    campaign, [recipient] = launched(language="en")
    campaign.closes_at_deadline = True
    campaign.save(update_fields=["closes_at_deadline"])
    page = Client().post(link(recipient), confirmed_post(campaign, "en"))
    assert page.status_code == 200
    recipient.refresh_from_db()
    assert recipient.acknowledged_at is not None


def test_closing_at_the_deadline_is_off_by_default():
    campaign, _ = launched()
    assert campaign.closes_at_deadline is False
