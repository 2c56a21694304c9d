"""The public /verify/ page: is this reference one of our campaigns?"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client, override_settings

from notifications.campaigns import services
from tests.ack_helpers import launched
from tests.campaign_factories import EmployeeFactory, campaign_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def client():
    cache.clear()
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def _verify(client: Client, reference: str) -> str:
    response = client.get("/verify/", {"reference": reference})
    assert response.status_code == 200
    return response.content.decode()


def test_it_shows_the_form(client):
    page = client.get("/verify/").content.decode()
    assert 'name="reference"' in page and "<label" in page
    assert 'id="verdict"' not in page


def test_it_confirms_a_genuine_reference_without_revealing_recipients(client):
    campaign, recipients = launched(employees=2)
    page = _verify(client, campaign.reference)
    assert "is a genuine campaign" in page
    assert campaign.name in page
    for recipient in recipients:
        assert recipient.email not in page
        assert recipient.last_name not in page


def test_it_accepts_what_people_type(client):
    campaign, _ = launched()
    ref = campaign.reference
    typed = f" {ref[:4].lower()}-{ref[4:].lower()} "
    assert "is a genuine campaign" in _verify(client, typed)


def test_it_warns_about_an_unknown_reference(client):
    page = _verify(client, "ZZZZZZZZ")
    assert "We know of no campaign with this reference" in page


def test_it_does_not_vouch_for_a_draft(client):
    EmployeeFactory()
    draft = campaign_make(name="Draft")
    assert "We know of no campaign" in _verify(client, draft.reference)


def test_it_says_when_a_campaign_was_cancelled(client):
    campaign, _ = launched()
    services.campaign_cancel(campaign=campaign)
    assert "It has been cancelled" in _verify(client, campaign.reference)


@override_settings(ACK_RATE_LIMIT_FAILURES=3)
def test_it_rate_limits_guessing(client):
    for n in range(3):
        _verify(client, f"GUESS00{n}")
    response = client.get("/verify/", {"reference": "GUESS009"})
    assert response.status_code == 429
