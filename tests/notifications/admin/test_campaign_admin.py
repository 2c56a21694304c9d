from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from notifications.models import Campaign, CampaignContent, CampaignStatus, StepKind
from tests.campaign_factories import PARIS, EmployeeFactory, campaign_make


@pytest.fixture
def dpo(db) -> User:
    return User.objects.create_superuser("dpo", "dpo@example.com", "pw")


@pytest.fixture
def viewer(db) -> User:
    user = User.objects.create_user("viewer", "viewer@example.com", "pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_campaign"))
    return user


@pytest.fixture
def campaign(db) -> Campaign:
    year = datetime.now(PARIS).year + 1
    return campaign_make(deadline=datetime(year, 11, 3, tzinfo=PARIS))


def lifecycle_url(campaign: Campaign, action: str) -> str:
    return reverse("admin:notifications_campaign_lifecycle", args=[campaign.pk, action])


def change_url(campaign: Campaign) -> str:
    return reverse("admin:notifications_campaign_change", args=[campaign.pk])


def test_it_creates_a_campaign_from_the_template_with_the_default_cadence(client, dpo):
    client.force_login(dpo)
    response = client.post(
        reverse("admin:notifications_campaign_add"),
        {
            "name": "LinkedIn 2025",
            "deadline_0": "2030-11-03",
            "deadline_1": "00:00",
            "time_zone": "Europe/Paris",
            "template": "linkedin-ai-optout",
            "window_enabled": "on",
            "window_start": "09:00",
            "window_end": "17:00",
            "window_weekdays": ["0", "1", "2", "3", "4"],
            "answer_choices": "[]",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    campaign = Campaign.objects.get(name="LinkedIn 2025")
    assert campaign.created_by == dpo
    assert campaign.steps.count() == 4
    assert campaign.steps.get(kind=StepKind.FIRST).due_at == datetime(
        2030, 10, 14, 9, 0, tzinfo=PARIS
    )
    # The template has all 24 languages: the configured ones get its text.
    assert set(campaign.contents.values_list("language", flat=True)) == set(
        dict(settings.LANGUAGES)
    )
    assert len(campaign.answer_choices) == 3


def test_it_shows_the_change_page_with_steps_and_contents(client, dpo, campaign):
    client.force_login(dpo)
    response = client.get(change_url(campaign))
    assert response.status_code == 200
    body = response.content.decode()
    assert campaign.reference in body
    assert 'id="audience-count"' in body
    assert "Launch" in body
    assert "notifications/audience-count.js" in body


def test_it_counts_the_matching_employees_live(client, dpo):
    EmployeeFactory(department="Sales", country="FR")
    EmployeeFactory(department="Sales", country="BE")
    EmployeeFactory(department="IT", country="FR")
    client.force_login(dpo)
    url = reverse("admin:notifications_campaign_audience_count")
    assert client.get(url).json() == {"count": 3}
    assert client.get(url, {"department": "Sales"}).json() == {"count": 2}
    response = client.get(url, {"department": ["Sales", "IT"], "country": "FR"})
    assert response.json() == {"count": 2}


def test_it_requires_login_for_the_count(client, db):
    url = reverse("admin:notifications_campaign_audience_count")
    assert client.get(url).status_code == 302


def test_it_launches_on_post_and_logs_it(client, dpo, campaign):
    EmployeeFactory.create_batch(2)
    client.force_login(dpo)
    response = client.post(lifecycle_url(campaign, "launch"))
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED
    assert campaign.recipients.count() == 2
    entry = LogEntry.objects.get(object_id=str(campaign.pk))
    assert entry.user == dpo and "launched" in entry.get_change_message()


def test_it_asks_before_launching_and_get_changes_nothing(client, dpo, campaign):
    EmployeeFactory.create_batch(2)
    client.force_login(dpo)
    response = client.get(lifecycle_url(campaign, "launch"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "2 employees will receive" in body
    assert 'method="post"' in body
    # The message and its preview, before anyone says yes.
    assert campaign.contents.get(language="en").subject in body
    preview = reverse("admin:notifications_campaign_preview", args=[campaign.pk])
    assert preview in body
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT
    assert not campaign.recipients.exists()
    assert client.put(lifecycle_url(campaign, "launch")).status_code == 405
    client.post(lifecycle_url(campaign, "launch"))
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED


def test_it_links_the_lifecycle_buttons_to_their_confirmation(client, dpo, campaign):
    client.force_login(dpo)
    body = client.get(change_url(campaign)).content.decode()
    assert f'href="{lifecycle_url(campaign, "launch")}"' in body
    assert f'action="{lifecycle_url(campaign, "launch")}"' not in body


def test_it_forbids_lifecycle_without_change_permission(client, viewer, campaign):
    EmployeeFactory()
    client.force_login(viewer)
    assert client.post(lifecycle_url(campaign, "launch")).status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


def test_it_redirects_anonymous_lifecycle_to_login(client, campaign):
    response = client.post(lifecycle_url(campaign, "launch"))
    assert response.status_code == 302 and "/login/" in response["Location"]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


def test_it_shows_why_a_launch_is_refused(client, dpo, campaign):
    client.force_login(dpo)  # no employee at all: empty audience
    response = client.post(lifecycle_url(campaign, "launch"), follow=True)
    assert "No active employee matches the audience." in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


def test_it_pauses_resumes_and_cancels_once(client, dpo, campaign):
    EmployeeFactory()
    client.force_login(dpo)
    client.post(lifecycle_url(campaign, "launch"))
    client.post(lifecycle_url(campaign, "pause"))
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED
    response = client.post(lifecycle_url(campaign, "pause"), follow=True)
    assert "Nothing changed" in response.content.decode()
    client.post(lifecycle_url(campaign, "resume"))
    client.post(lifecycle_url(campaign, "cancel"))
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CANCELLED
    assert LogEntry.objects.filter(object_id=str(campaign.pk)).count() == 4


def _change_data(campaign: Campaign, **content_overrides: str) -> dict:
    contents = list(campaign.contents.filter(is_current=True).order_by("language"))
    steps = list(campaign.steps.order_by("id"))
    local = campaign.deadline.astimezone(ZoneInfo(campaign.time_zone))
    data = {
        "name": campaign.name,
        "deadline_0": local.strftime("%Y-%m-%d"),
        "deadline_1": local.strftime("%H:%M"),
        "time_zone": campaign.time_zone,
        "from_email": campaign.from_email,
        "reply_to": campaign.reply_to,
        "dpo_contact": campaign.dpo_contact,
        "window_enabled": "on",
        "window_start": "09:00",
        "window_end": "17:00",
        "window_weekdays": ["0", "1", "2", "3", "4"],
        "asks_answer": "on",
        "answer_choices": '[{"value": "ok", "labels": {"fr": "OK", "en": "OK"}}]',
        "contents-TOTAL_FORMS": str(len(contents)),
        "contents-INITIAL_FORMS": str(len(contents)),
        "steps-TOTAL_FORMS": str(len(steps)),
        "steps-INITIAL_FORMS": str(len(steps)),
    }
    for i, content in enumerate(contents):
        prefix = f"contents-{i}-"
        data |= {
            prefix + "id": content.pk,
            prefix + "campaign": campaign.pk,
            prefix + "language": content.language,
            prefix + "subject": content.subject,
            prefix + "body_text": content.body_text,
            prefix + "body_html": content.body_html,
            prefix + "page_text": content.page_text,
        }
        if content.language == "fr":
            data |= {prefix + k: v for k, v in content_overrides.items()}
    for i, step in enumerate(steps):
        prefix = f"steps-{i}-"
        data |= {
            prefix + "id": step.pk,
            prefix + "campaign": campaign.pk,
            prefix + "kind": step.kind,
            prefix + "offset_days": step.offset_days,
            prefix + "at_0": "",
            prefix + "at_1": "",
        }
    return data


def test_it_rejects_an_unknown_placeholder_in_the_admin(client, dpo, campaign):
    client.force_login(dpo)
    response = client.post(
        change_url(campaign), _change_data(campaign, subject="Salut {{ prenom }}")
    )
    assert response.status_code == 200
    assert "{{ prenom }}" in response.content.decode()
    assert "prenom" not in campaign.contents.get(language="fr").subject


def test_it_versions_content_edited_after_launch(client, dpo, campaign):
    EmployeeFactory()
    client.force_login(dpo)
    client.post(lifecycle_url(campaign, "launch"))
    campaign.refresh_from_db()
    response = client.post(
        change_url(campaign), _change_data(campaign, subject="Corrigé")
    )
    assert response.status_code == 302
    versions = CampaignContent.objects.filter(campaign=campaign, language="fr")
    assert sorted(versions.values_list("version", "is_current")) == [
        (1, False),
        (2, True),
    ]
    assert versions.get(is_current=True).subject == "Corrigé"
    assert campaign.contents.filter(language="en").count() == 1


def test_it_previews_a_step_for_an_employee(client, dpo, campaign):
    employee = EmployeeFactory(language="en", first_name="Ana")
    client.force_login(dpo)
    step = campaign.steps.get(kind=StepKind.REMINDER)
    response = client.get(
        reverse("admin:notifications_campaign_preview", args=[campaign.pk]),
        {"step": step.pk, "employee": employee.email},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Reminder: LinkedIn will use your data" in body
    assert "Hello Ana," in body


def test_it_lets_a_viewer_preview_but_not_send_a_test(client, viewer, campaign):
    employee = EmployeeFactory()
    client.force_login(viewer)
    step = campaign.steps.get(kind=StepKind.FIRST)
    preview = reverse("admin:notifications_campaign_preview", args=[campaign.pk])
    assert client.get(preview, {"step": step.pk}).status_code == 200
    send = reverse("admin:notifications_campaign_send_test", args=[campaign.pk])
    response = client.post(send, {"step": step.pk, "employee": employee.email})
    assert response.status_code == 403


def test_it_sends_me_a_test(client, dpo, campaign, mailoutbox):
    employee = EmployeeFactory(language="fr", first_name="Zoé")
    client.force_login(dpo)
    step = campaign.steps.get(kind=StepKind.FIRST)
    send = reverse("admin:notifications_campaign_send_test", args=[campaign.pk])
    assert client.get(send).status_code == 405
    response = client.post(send, {"step": step.pk, "employee": employee.email})
    assert response.status_code == 302
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["dpo@example.com"]
    assert "Bonjour Zoé," in mailoutbox[0].body


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_updates_the_live_count_in_a_real_browser(live_server, campaign):
    from playwright.sync_api import sync_playwright

    from tests.services import chromium_launch

    EmployeeFactory.create_batch(2, department="Sales")
    EmployeeFactory(department="IT")
    User.objects.create_superuser("dpo", "dpo@example.com", "pw")
    with sync_playwright() as p:
        browser = chromium_launch(p)
        page = browser.new_page()
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", "dpo")
        page.fill("#id_password", "pw")
        page.click("input[type=submit]")
        page.goto(live_server.url + change_url(campaign))
        assert page.text_content("#audience-count") == "3"
        page.select_option("#id_departments", ["Sales"])
        page.wait_for_function(
            "document.getElementById('audience-count').textContent === '2'"
        )
        browser.close()


def test_it_proposes_monday_to_friday_on_a_new_campaign(admin_client):
    page = admin_client.get("/admin/notifications/campaign/add/").text
    for day in range(5):
        assert f'value="{day}" id="id_window_weekdays_{day}" checked' in page
    assert 'value="5" id="id_window_weekdays_5" checked' not in page


def test_it_reads_and_shows_times_in_the_campaigns_time_zone(client, dpo):
    """17:00 typed for a New York campaign is 17:00 in New York, not in the
    server's zone, and the change page shows 17:00 again."""
    new_york = ZoneInfo("America/New_York")
    client.force_login(dpo)
    response = client.post(
        reverse("admin:notifications_campaign_add"),
        {
            "name": "US staff",
            "deadline_0": "2030-11-15",
            "deadline_1": "17:00",
            "time_zone": "America/New_York",
            "template": "linkedin-ai-optout",
            "window_start": "09:00",
            "window_end": "17:00",
            "window_weekdays": ["0", "1", "2", "3", "4"],
            "answer_choices": "[]",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    campaign = Campaign.objects.get(name="US staff")
    assert campaign.deadline == datetime(2030, 11, 15, 17, 0, tzinfo=new_york)

    data = _change_data(campaign)
    data["deadline_0"], data["deadline_1"] = "2030-11-15", "17:00"
    data["steps-0-offset_days"] = ""
    data["steps-0-at_0"], data["steps-0-at_1"] = "2030-11-01", "10:30"
    response = client.post(change_url(campaign), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    step = campaign.steps.order_by("id").first()
    assert step.at == datetime(2030, 11, 1, 10, 30, tzinfo=new_york)

    page = client.get(change_url(campaign)).content.decode()
    assert 'name="deadline_1" value="17:00' in page
    assert 'name="steps-0-at_1" value="10:30' in page


def test_it_keeps_launched_campaigns_and_their_past_steps(client, dpo, campaign):
    """Once launched, a campaign and the steps that went out are evidence:
    neither can be deleted, and a past step cannot be rewritten."""
    from notifications.models import StepStatus

    EmployeeFactory()
    client.force_login(dpo)
    client.post(lifecycle_url(campaign, "launch"))
    campaign.refresh_from_db()
    delete = reverse("admin:notifications_campaign_delete", args=[campaign.pk])
    assert client.get(delete).status_code == 403
    assert client.post(delete, {"post": "yes"}).status_code == 403

    done = campaign.steps.order_by("id").first()
    campaign.steps.filter(pk=done.pk).update(status=StepStatus.DONE)
    data = _change_data(campaign)
    data["steps-0-DELETE"] = "on"
    response = client.post(change_url(campaign), data)
    assert response.status_code == 200
    assert "cannot be deleted" in response.content.decode()

    data = _change_data(campaign)
    data["steps-0-offset_days"] = str(done.offset_days + 1)
    response = client.post(change_url(campaign), data)
    assert response.status_code == 200
    assert "cannot be changed" in response.content.decode()

    # A pending step (a future reminder) may still be dropped.
    data = _change_data(campaign)
    data["steps-1-DELETE"] = "on"
    assert client.post(change_url(campaign), data).status_code == 302
    assert Campaign.objects.filter(pk=campaign.pk).exists()
    assert campaign.steps.filter(pk=done.pk).exists()
    assert campaign.steps.count() == 3


def test_it_deletes_a_draft_campaign(client, dpo, campaign):
    client.force_login(dpo)
    delete = reverse("admin:notifications_campaign_delete", args=[campaign.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 302
    assert not Campaign.objects.filter(pk=campaign.pk).exists()


def test_it_refuses_to_blank_the_contact_of_a_launched_campaign(client, dpo, campaign):
    EmployeeFactory()
    client.force_login(dpo)
    client.post(lifecycle_url(campaign, "launch"))
    campaign.refresh_from_db()
    data = _change_data(campaign)
    data["dpo_contact"] = " "

    response = client.post(change_url(campaign), data)

    assert response.status_code == 200
    assert "it cannot be empty" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.dpo_contact
