"""A NUL character in a query string (%00) is a friendly 400 everywhere. On
PostgreSQL the admin's list filters and the dashboard's people filters put
it in a query, which PostgreSQL refuses: a 500 until then."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.dashboard_factories import campaign_built
from tests.factories import member_make

pytestmark = pytest.mark.django_db


def test_a_nul_in_a_filter_is_a_400_in_the_readers_language(client):
    campaign = campaign_built(5).campaign
    client.force_login(member_make("DPO"))
    people = reverse("admin:notifications_campaign_people", args=[campaign.pk])
    for url in (
        "/admin/employees/employee/?department=%00",
        people + "?department=%00",
        people + "?manager=x%00y",
        "/verify/?reference=%00",
    ):
        english = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
        assert english.status_code == 400, url
        assert "Address not understood" in english.content.decode()
        french = client.get(url, HTTP_ACCEPT_LANGUAGE="fr")
        assert "Adresse incomprise" in french.content.decode()
    assert client.get(people + "?department=Sales").status_code == 200
