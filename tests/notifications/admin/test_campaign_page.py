"""The campaign page as the DPO reads it: the preview's HTML shown whole, the
steps in words, the evidence link for those allowed, the warnings at save."""

from __future__ import annotations

from datetime import datetime, timedelta
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import timezone

from notifications.models import Campaign, CampaignStatus, StepKind
from tests.campaign_factories import PARIS, EmployeeFactory, campaign_make


@pytest.fixture
def campaign(db) -> Campaign:
    year = datetime.now(PARIS).year + 1
    return campaign_make(deadline=datetime(year, 11, 3, tzinfo=PARIS))


class _Srcdoc(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.srcdoc: str | None = None

    def handle_starttag(self, tag, attrs) -> None:
        if tag == "iframe":
            self.srcdoc = dict(attrs).get("srcdoc")


def test_it_previews_the_whole_html_message_in_the_frame(client, dpo, campaign):
    EmployeeFactory(language="en", first_name="Ana")
    client.force_login(dpo)
    step = campaign.steps.get(kind=StepKind.FIRST)
    response = client.get(
        reverse("admin:notifications_campaign_preview", args=[campaign.pk]),
        {"step": step.pk},
    )
    parser = _Srcdoc()
    parser.feed(response.content.decode())
    # Escaped once in the attribute, the browser reads the whole document.
    assert parser.srcdoc is not None
    assert parser.srcdoc.lstrip().lower().startswith(("<!doctype", "<html"))
    assert "Hello Ana," in parser.srcdoc
    assert parser.srcdoc.rstrip().endswith("</html>")


CAMPAIGN_STAFF = ("notifications.view_campaign", "notifications.change_campaign")


def _launched(campaign: Campaign) -> Campaign:
    from notifications.campaigns import services

    EmployeeFactory()
    services.campaign_launch(campaign=campaign)
    return campaign


def _pages(client, campaign: Campaign) -> str:
    change = reverse("admin:notifications_campaign_change", args=[campaign.pk])
    dashboard = reverse("admin:notifications_campaign_dashboard", args=[campaign.pk])
    return client.get(change).content.decode() + client.get(dashboard).content.decode()


def test_it_links_the_evidence_for_those_who_may_export_it(client, campaign):
    from tests.factories import UserFactory

    _launched(campaign)
    auditor = UserFactory(permissions=(*CAMPAIGN_STAFF, "audit.export_evidence"))
    client.force_login(auditor)
    evidence = reverse("admin:audit_evidence_export", args=[campaign.pk, "csv"])
    assert _pages(client, campaign).count(f'href="{evidence}"') == 2


def test_it_hides_the_evidence_link_without_the_permission(client, campaign):
    from tests.factories import UserFactory

    _launched(campaign)
    client.force_login(UserFactory(permissions=CAMPAIGN_STAFF))
    body = _pages(client, campaign)
    assert "evidence." not in body
    assert "Evidence (CSV)" not in body


def test_it_shows_the_steps_in_words_and_local_time(client, dpo, campaign):
    client.force_login(dpo)
    change = reverse("admin:notifications_campaign_change", args=[campaign.pk])
    body = client.get(change).content.decode()
    table = body[body.index('class="campaign-steps"') :]
    table = table[: table.index("</table>")]
    assert "Manager digest" in table and "Pending" in table
    assert ">manager_digest<" not in table and ">pending<" not in table
    assert "(Europe/Paris)" in table
    assert "T09:00:00" not in table


def _post_data(campaign: Campaign, **changes: object) -> dict:
    local = timezone.localtime(campaign.deadline, PARIS)
    data = {
        "name": campaign.name,
        "deadline_0": local.strftime("%Y-%m-%d"),
        "deadline_1": local.strftime("%H:%M"),
        "time_zone": campaign.time_zone,
        "window_enabled": "on",
        "window_start": "09:00",
        "window_end": "17:00",
        "window_weekdays": ["0", "1", "2", "3", "4"],
        "asks_answer": "on",
        "answer_choices-TOTAL": "3",
        "answer_choices-0-value": "opted_out",
        "answer_choices-0-label-en": "I have unticked it",
        "answer_choices-0-label-fr": "J'ai décoché",
        "answer_choices-1-value": "no_linkedin",
        "answer_choices-1-label-en": "No LinkedIn",
        "answer_choices-1-label-fr": "Pas de LinkedIn",
        "answer_choices-2-value": "",
        "contents-TOTAL_FORMS": "0",
        "contents-INITIAL_FORMS": "0",
        "steps-TOTAL_FORMS": "0",
        "steps-INITIAL_FORMS": "0",
        **changes,
    }
    return data


def test_it_edits_the_answers_as_rows_and_stores_the_same_json(client, dpo, campaign):
    client.force_login(dpo)
    change = reverse("admin:notifications_campaign_change", args=[campaign.pk])
    page = client.get(change).content.decode()
    assert 'name="answer_choices-0-label-fr"' in page
    assert "J&#x27;ai décoché l&#x27;option" in page
    response = client.post(change, _post_data(campaign))
    assert response.status_code == 302, response.context["adminform"].form.errors
    campaign.refresh_from_db()
    assert campaign.answer_choices == [
        {
            "value": "opted_out",
            "labels": {"en": "I have unticked it", "fr": "J'ai décoché"},
        },
        {
            "value": "no_linkedin",
            "labels": {"en": "No LinkedIn", "fr": "Pas de LinkedIn"},
        },
    ]


def test_it_refuses_an_answer_without_a_value(client, dpo, campaign):
    client.force_login(dpo)
    change = reverse("admin:notifications_campaign_change", args=[campaign.pk])
    response = client.post(
        change, _post_data(campaign, **{"answer_choices-1-value": ""})
    )
    assert response.status_code == 200
    assert "Every answer needs a value to record." in response.content.decode()
    campaign.refresh_from_db()
    assert len(campaign.answer_choices) == 3


def test_it_warns_at_save_of_a_past_deadline_and_an_empty_audience(
    client, dpo, campaign
):
    client.force_login(dpo)
    change = reverse("admin:notifications_campaign_change", args=[campaign.pk])
    past = timezone.localtime(timezone.now() - timedelta(days=2), PARIS)
    response = client.post(
        change,
        _post_data(campaign, deadline_0=past.strftime("%Y-%m-%d")),
        follow=True,
    )
    body = response.content.decode()
    assert "has passed: the campaign cannot be launched until you move it" in body
    assert "No active employee matches the audience" in body
    campaign.refresh_from_db()  # saved all the same: a warning, not a block
    assert timezone.localtime(campaign.deadline, PARIS).date() == past.date()
    assert campaign.status == CampaignStatus.DRAFT


def test_it_does_not_warn_when_the_draft_could_launch(client, dpo, campaign):
    EmployeeFactory()
    client.force_login(dpo)
    change = reverse("admin:notifications_campaign_change", args=[campaign.pk])
    response = client.post(change, _post_data(campaign), follow=True)
    assert 'class="warning"' not in response.content.decode()


def test_it_says_when_the_window_folds_steps_together(client, dpo, db):
    year = datetime.now(PARIS).year + 1
    monday = datetime(year, 11, 1, 18, 0, tzinfo=PARIS)
    monday += timedelta(days=(7 - monday.weekday()) % 7)
    campaign = campaign_make(deadline=monday)
    client.force_login(dpo)
    change = reverse("admin:notifications_campaign_change", args=[campaign.pk])
    body = client.get(change).content.decode()
    assert "The send window puts these steps on the same opening" in body
    assert "Manager digest (D-3), Last call (D-2)" in body
