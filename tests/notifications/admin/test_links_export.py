"""Personal links are proof: exporting or printing them is a permission of
its own (DPO by default, grantable to HR) and every export is in the ledger."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from audit.models import AuditAction, AuditEntry
from notifications.acknowledgements.services import acknowledgement_record
from tests.ack_helpers import launched
from tests.factories import member_make

pytestmark = pytest.mark.django_db


def _urls(campaign) -> dict[str, str]:
    return {
        "csv": reverse("admin:notifications_campaign_links_csv", args=[campaign.pk]),
        "letters": reverse("admin:notifications_campaign_letters", args=[campaign.pk]),
    }


def _change_page(client, campaign) -> str:
    url = reverse("admin:notifications_campaign_change", args=[campaign.pk])
    page = client.get(url)
    assert page.status_code == 200
    return page.content.decode()


def _exports() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=AuditAction.LINKS_EXPORT))


def _grant_links(user) -> None:
    user.user_permissions.add(
        Permission.objects.get(
            content_type__app_label="notifications", codename="export_links"
        )
    )


def test_it_gives_the_dpo_group_the_links_permission_and_not_hr():
    dpo = Group.objects.get(name="DPO").permissions
    hr = Group.objects.get(name="HR").permissions
    assert dpo.filter(codename="export_links").exists()
    assert not hr.filter(codename="export_links").exists()


def test_it_refuses_links_and_letters_to_hr_without_the_permission(client):
    campaign, _ = launched(employees=2)
    client.force_login(member_make("HR"))
    for url in _urls(campaign).values():
        assert client.get(url).status_code == 403, url
    page = _change_page(client, campaign)
    for url in _urls(campaign).values():
        assert url not in page  # no button either
    assert _exports() == []


def test_it_lets_the_dpo_export_and_print_links(client):
    campaign, _ = launched(employees=2)
    client.force_login(member_make("DPO"))
    page = _change_page(client, campaign)
    for url in _urls(campaign).values():
        assert url in page
        assert client.get(url).status_code == 200, url


def test_it_lets_hr_granted_the_permission_export_links(client):
    campaign, _ = launched(employees=2)
    hr = member_make("HR")
    _grant_links(hr)
    client.force_login(hr)
    assert _urls(campaign)["csv"] in _change_page(client, campaign)
    for url in _urls(campaign).values():
        assert client.get(url).status_code == 200, url


def test_it_still_refuses_a_viewer_granted_only_the_links_permission(client):
    # Links go only to those who may also change the campaign.
    campaign, _ = launched()
    viewer = member_make("Viewer")
    _grant_links(viewer)
    client.force_login(viewer)
    for url in _urls(campaign).values():
        assert client.get(url).status_code == 403, url


def test_it_records_each_csv_export_with_who_campaign_count_and_scope(client):
    campaign, _ = launched(employees=3)
    client.force_login(member_make("DPO", "dpo-person"))
    client.get(_urls(campaign)["csv"])
    [entry] = _exports()
    assert entry.username == "dpo-person"
    assert entry.target_type == "notifications.campaign"
    assert entry.target_id == str(campaign.pk)
    assert entry.after == {"format": "csv", "scope": "all", "links": 3}


def test_it_records_each_print_of_letters_pending_only(client):
    campaign, recipients = launched(employees=3)
    recipients[0].campaign = campaign
    acknowledgement_record(recipient=recipients[0], content=None)
    client.force_login(member_make("DPO", "dpo-person"))
    client.get(_urls(campaign)["letters"] + "?pending=1")
    client.get(_urls(campaign)["letters"])
    first, second = sorted(_exports(), key=lambda e: e.seq)
    assert first.after == {"format": "letters", "scope": "pending", "links": 2}
    assert second.after == {"format": "letters", "scope": "all", "links": 3}
    assert {first.username, second.username} == {"dpo-person"}


def test_it_refuses_a_post_to_the_links_views(client):
    campaign, _ = launched()
    client.force_login(member_make("DPO"))
    for url in _urls(campaign).values():
        assert client.post(url).status_code == 405, url
    assert _exports() == []
