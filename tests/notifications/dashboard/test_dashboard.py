"""The DPO dashboard: figures, chart, breakdown, outstanding list, exports,
live refresh, actions with confirmation and permission, four-eyes launch, and
a number of SQL queries that does not grow with the staff."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from openpyxl import load_workbook

from audit.models import AuditAction, AuditEntry
from employees.models import Employee
from notifications.campaigns import services
from notifications.delivery import dispatch
from notifications.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Recipient,
    Step,
    StepKind,
)
from tests.campaign_factories import EmployeeFactory, campaign_make
from tests.dashboard_factories import BOUNCE, FAILURE, campaign_built
from tests.factories import UserFactory, member_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def dpo(client):
    user = member_make("DPO")
    client.force_login(user)
    return user


@pytest.fixture
def built():
    return campaign_built(60)


def _url(name: str, campaign: Campaign, *args: object) -> str:
    return reverse(f"admin:notifications_campaign_{name}", args=[campaign.pk, *args])


def _text(response) -> str:
    return response.content.decode()


def _listed(response) -> int:
    """The number of people the list page says match."""
    found = re.search(r'class="dash-count">\s*(\d+) (person|people)', _text(response))
    return int(found.group(1))


def _csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))


# --- figures ----------------------------------------------------------------


def test_it_shows_the_headline_figures(client, dpo, built):
    campaign = built.campaign
    enrolled = campaign.recipients.count()
    acked = campaign.recipients.filter(acknowledged_at__isnull=False).count()
    failed = Delivery.objects.filter(status=DeliveryStatus.FAILED).count()
    page = client.get(_url("dashboard", campaign))
    assert page.status_code == 200
    text = _text(page)
    assert f'id="fig-acknowledged">{acked}<' in text
    assert f"of {enrolled} ({100 * acked // enrolled} %)" in text
    assert f'id="fig-outstanding">{enrolled - acked}<' in text
    assert 'id="fig-days-left">5<' in text
    assert FAILURE in text and BOUNCE in text  # the reasons
    assert f"{failed} failed" in text
    opted = campaign.recipients.filter(answer="opted_out").count()
    answers = text[text.index('class="module dash-answers"') :]
    assert f'I have unticked the option</th><td class="dash-num">{opted}<' in answers


def test_it_counts_messages_per_step_with_the_sending_progress(client, dpo, built):
    last_call = Step.objects.get(campaign=built.campaign, kind=StepKind.LAST_CALL)
    rows = Delivery.objects.filter(step=last_call)
    queued = rows.filter(status=DeliveryStatus.QUEUED).count()
    live = client.get(_url("dashboard_live", built.campaign)).json()
    step = next(s for s in live["steps"] if s["id"] == last_call.pk)
    assert step["targeted"] == rows.count()
    assert step["queued"] == queued > 0
    assert live["sending"] is True
    # The workers finish: the next poll says so.
    rows.filter(status=DeliveryStatus.QUEUED).update(status=DeliveryStatus.SENT)
    live = client.get(_url("dashboard_live", built.campaign)).json()
    step = next(s for s in live["steps"] if s["id"] == last_call.pk)
    assert (step["queued"], step["progress"], live["sending"]) == (0, 100, False)
    assert 'id="fig-acknowledged"' in live["html"]


def test_it_draws_the_acknowledgements_chart_with_steps_and_deadline(
    client, dpo, built
):
    text = _text(client.get(_url("dashboard", built.campaign)))
    svg = text[text.index('<svg class="ack-chart"') :]
    svg = svg[: svg.index("</svg>")]
    assert '<polyline class="acks"' in svg
    assert 'class="marker deadline"' in svg and "Deadline" in svg
    assert "First message" in svg
    # The line ends at the number acknowledged (top of the chart = everyone).
    points = svg.split('points="')[1].split('"')[0].split()
    assert len(points) >= 16


def test_it_breaks_progress_down_by_department_country_and_language(client, dpo, built):
    text = _text(client.get(_url("dashboard", built.campaign) + "?sort=value"))
    for table in ("department", "country", "language"):
        assert f'id="breakdown-{table}"' in text
    sales = Recipient.objects.filter(
        campaign=built.campaign, employee__department="Sales"
    )
    assert "?show=all&amp;department=Sales" in text
    department = text[text.index('id="breakdown-department"') :]
    assert department.index(">Finance<") < department.index(">Sales<")
    people = client.get(_url("people", built.campaign) + "?show=all&department=Sales")
    assert _listed(people) == sales.count()


def test_it_sorts_the_breakdown_by_progress(client, dpo, built):
    Recipient.objects.filter(
        campaign=built.campaign, employee__department="Legal"
    ).update(acknowledged_at=timezone.now())
    text = _text(
        client.get(_url("dashboard", built.campaign) + "?sort=percent&order=desc")
    )
    department = text[text.index('id="breakdown-department"') :]
    assert department.index(">Legal<") < department.index(">Sales<")


def test_it_lists_every_campaign_in_the_overview(client, dpo, built):
    EmployeeFactory()
    campaign_make(name="Phishing drill", template="")
    page = client.get(reverse("admin:notifications_campaign_dashboard_overview"))
    text = _text(page)
    assert "Phishing drill" in text and "LinkedIn AI" in text
    assert _url("dashboard", built.campaign) in text


# --- outstanding list and exports -----------------------------------------------


def test_it_lists_only_the_outstanding_by_default(client, dpo, built):
    outstanding = built.campaign.recipients.filter(acknowledged_at__isnull=True)
    page = client.get(_url("people", built.campaign))
    text = _text(page)
    assert _listed(page) == outstanding.count()
    acked = built.campaign.recipients.exclude(acknowledged_at=None).first()
    assert acked.email not in text


def test_it_filters_the_outstanding_by_manager_step_and_bad_address(client, dpo, built):
    campaign = built.campaign
    manager = Employee.objects.get(email="p20@example.com")
    reports = campaign.recipients.filter(
        employee__manager=manager, acknowledged_at__isnull=True
    )
    response = client.get(_url("people", campaign) + "?manager=p20@example.com")
    assert _listed(response) == reports.count() > 0
    Employee.objects.filter(
        recipients__in=campaign.recipients.filter(acknowledged_at=None)[:2]
    ).update(email_status="bounced")
    bad = campaign.recipients.filter(
        acknowledged_at__isnull=True, employee__email_status="bounced"
    )
    response = client.get(_url("people", campaign) + "?bounced=1")
    assert _listed(response) == bad.count() >= 2
    last_call = Step.objects.get(campaign=campaign, kind=StepKind.LAST_CALL)
    got_it = Delivery.objects.filter(
        step=last_call,
        status__in=(DeliveryStatus.SENT, DeliveryStatus.DELIVERED),
        recipient__acknowledged_at__isnull=True,
    )
    response = client.get(_url("people", campaign) + f"?last_step={last_call.pk}")
    assert _listed(response) == got_it.count() > 0


def test_it_exports_the_outstanding_as_excel_safe_csv(client, dpo, built):
    campaign = built.campaign
    Recipient.objects.filter(campaign=campaign, acknowledged_at=None).filter(
        pk=campaign.recipients.filter(acknowledged_at=None).first().pk
    ).update(last_name="=HYPERLINK(1)")
    response = client.get(_url("outstanding_export", campaign, "csv"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = _csv(response)
    outstanding = campaign.recipients.filter(acknowledged_at=None).count()
    assert rows[0][:3] == ["Last name", "First name", "Email"]
    assert len(rows) == outstanding + 1
    assert ["'=HYPERLINK(1)"] == [r[0] for r in rows if "HYPERLINK" in r[0]]
    entry = AuditEntry.objects.filter(action=AuditAction.EXPORT).get()
    assert entry.username == dpo.username


def test_a_person_without_a_manager_shows_an_empty_manager_not_none(client, dpo, built):
    campaign = built.campaign
    person = campaign.recipients.filter(employee__manager=None).first()
    Recipient.objects.filter(pk=person.pk).update(acknowledged_at=None)
    page = _text(client.get(_url("people", campaign) + f"?q={person.email}"))
    row = re.search(
        rf"<tr>(?:(?!</tr>).)*{re.escape(person.email)}.*?</tr>", page, re.S
    )
    assert row and "None" not in row.group(0) and "—" in row.group(0)
    rows = _csv(client.get(_url("outstanding_export", campaign, "csv")))
    manager = rows[0].index("Manager")
    row = next(r for r in rows if person.email in r)
    assert row[manager] == ""
    managed = next(r for r in rows[1:] if r[manager])
    assert "None" not in managed[manager]


def test_it_exports_the_outstanding_as_xlsx(client, dpo, built):
    response = client.get(_url("outstanding_export", built.campaign, "xlsx"))
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    rows = list(book.active.values)
    outstanding = built.campaign.recipients.filter(acknowledged_at=None).count()
    assert len(rows) == outstanding + 1
    assert rows[0][2] == "Email"
    assert book.active.title == "Not yet acknowledged"


def test_it_refuses_an_unknown_export_format(client, dpo, built):
    assert (
        client.get(_url("outstanding_export", built.campaign, "pdf")).status_code == 404
    )


# --- permissions ----------------------------------------------------------------


def test_it_sends_the_anonymous_to_the_login_page(client, built):
    response = client.get(_url("dashboard", built.campaign))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_it_lets_a_viewer_read_but_not_act(client, built):
    client.force_login(member_make("Viewer"))
    campaign = built.campaign
    page = client.get(_url("dashboard", campaign))
    assert page.status_code == 200
    assert _url("dashboard_action", campaign, "pause") not in _text(page)
    assert client.get(_url("people", campaign)).status_code == 200
    for action in ("pause", "cancel", "remind", "retry"):
        assert client.get(_url("dashboard_action", campaign, action)).status_code == 403
        assert (
            client.post(_url("dashboard_action", campaign, action)).status_code == 403
        )
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING


def test_it_refuses_a_user_without_campaign_rights(client, built):
    client.force_login(UserFactory(username="nobody"))
    assert client.get(_url("dashboard", built.campaign)).status_code == 403
    assert client.get(_url("dashboard_live", built.campaign)).status_code == 403


def test_it_rejects_post_on_the_pages(client, dpo, built):
    assert client.post(_url("dashboard", built.campaign)).status_code == 405
    assert client.post(_url("dashboard_live", built.campaign)).status_code == 405


# --- actions ----------------------------------------------------------------------


def test_it_asks_before_pausing_then_pauses_and_logs_who(client, dpo, built):
    campaign = built.campaign
    url = _url("dashboard_action", campaign, "pause")
    question = client.get(url)
    assert "No message goes out until you resume it" in _text(question)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING
    response = client.post(url)
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED
    entry = AuditEntry.objects.get(action=AuditAction.CAMPAIGN_PAUSE)
    assert entry.username == dpo.username
    # Again: not available any more, nothing changes.
    client.post(url)
    assert AuditEntry.objects.filter(action=AuditAction.CAMPAIGN_PAUSE).count() == 1
    client.post(_url("dashboard_action", campaign, "resume"))
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING


def test_it_offers_no_resume_once_the_deadline_has_passed(client, dpo, built):
    """Nothing can go out any more: the dispatcher finishes the campaign."""
    campaign = built.campaign
    client.post(_url("dashboard_action", campaign, "pause"))
    assert "Resume" in _text(client.get(_url("dashboard", campaign)))
    Campaign.objects.filter(pk=campaign.pk).update(
        deadline=timezone.now() - timedelta(minutes=1)
    )

    page = _text(client.get(_url("dashboard", campaign)))
    client.post(_url("dashboard_action", campaign, "resume"))

    assert "Resume" not in page
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED


def test_it_cancels(client, dpo, built):
    client.post(_url("dashboard_action", built.campaign, "cancel"))
    built.campaign.refresh_from_db()
    assert built.campaign.status == CampaignStatus.CANCELLED
    assert not Delivery.objects.filter(status=DeliveryStatus.QUEUED).exists()


def test_it_sends_the_next_reminder_now_to_the_outstanding_only(client, dpo, built):
    campaign = built.campaign
    Delivery.objects.filter(status=DeliveryStatus.QUEUED).update(
        status=DeliveryStatus.SENT
    )
    url = _url("dashboard_action", campaign, "remind")
    client.post(url)
    client.post(url)  # a double click adds nothing
    [step] = Step.objects.filter(
        campaign=campaign, kind=StepKind.REMINDER, at__isnull=False
    )
    dispatch.dispatch_tick(enqueue=lambda ids: None)
    targeted = set(step.deliveries.values_list("recipient_id", flat=True))
    outstanding = set(
        campaign.recipients.filter(acknowledged_at=None).values_list("id", flat=True)
    )
    assert targeted == outstanding
    entry = AuditEntry.objects.get(action=AuditAction.CAMPAIGN_EDIT)
    assert entry.after["action"] == "reminder_now" and entry.username == dpo.username


def test_a_reason_a_french_worker_wrote_reads_in_each_readers_language(client, dpo):
    EmployeeFactory(email_status="bounced")
    campaign = campaign_make(
        deadline=timezone.now() + timedelta(days=10),  # the first message due now
        window=services.WindowSpec(enabled=False),
    )
    services.campaign_launch(campaign=campaign)
    with translation.override("fr"):  # a worker runs in LANGUAGE_CODE
        dispatch.dispatch_tick(enqueue=lambda ids: None)
    [skipped] = Delivery.objects.filter(status=DeliveryStatus.SKIPPED)
    assert skipped.last_error == "Address bounced or complained before."
    url = _url("dashboard", campaign)
    english = _text(client.get(url, HTTP_ACCEPT_LANGUAGE="en"))
    french = _text(client.get(url, HTTP_ACCEPT_LANGUAGE="fr"))
    assert "Address bounced or complained before." in english
    assert "Adresse précédemment rejetée" in french
    assert "Address bounced" not in french


def test_it_retries_the_failed(client, dpo, built):
    failed = list(
        Delivery.objects.filter(status=DeliveryStatus.FAILED).values_list(
            "id", flat=True
        )
    )
    assert failed
    client.post(_url("dashboard_action", built.campaign, "retry"))
    assert set(
        Delivery.objects.filter(id__in=failed).values_list("status", flat=True)
    ) == {DeliveryStatus.QUEUED}
    entry = AuditEntry.objects.get(action=AuditAction.CAMPAIGN_EDIT)
    assert entry.after == {"action": "retry_failed", "messages": len(failed)}


def test_it_launches_a_draft_from_the_dashboard(client, dpo):
    EmployeeFactory()
    campaign = campaign_make(deadline=timezone.now() + timedelta(days=30))
    client.post(_url("dashboard_action", campaign, "launch"))
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED
    assert AuditEntry.objects.filter(action=AuditAction.CAMPAIGN_LAUNCH).exists()


# --- four-eyes ----------------------------------------------------------------------


@pytest.fixture
def four_eyes(settings):
    settings.LAUNCH_REQUIRES_APPROVAL = True
    EmployeeFactory()
    return campaign_make(deadline=timezone.now() + timedelta(days=30))


def test_it_waits_for_a_second_dpo_to_approve_the_launch(client, four_eyes):
    campaign = four_eyes
    alice, bob = member_make("DPO", "alice"), member_make("DPO", "bob")
    client.force_login(alice)
    client.post(_url("dashboard_action", campaign, "launch"))
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT
    page = _text(client.get(_url("dashboard", campaign)))
    assert "waiting for a second DPO" in page
    assert _url("dashboard_action", campaign, "approve") not in page
    client.post(_url("dashboard_action", campaign, "approve"))  # her own request
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT

    client.force_login(bob)
    client.post(_url("dashboard_action", campaign, "approve"))
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED
    request, approval = AuditEntry.objects.filter(
        action=AuditAction.LAUNCH_APPROVAL
    ).order_by("seq")
    assert (request.username, request.after["stage"]) == ("alice", "requested")
    assert (approval.username, approval.after["stage"]) == ("bob", "approved")
    launch = AuditEntry.objects.get(action=AuditAction.CAMPAIGN_LAUNCH)
    assert launch.username == "bob"


def test_it_voids_a_launch_request_when_the_text_changes(client, four_eyes):
    campaign = four_eyes
    alice, bob = member_make("DPO", "alice"), member_make("DPO", "bob")
    client.force_login(alice)
    client.post(_url("dashboard_action", campaign, "launch"))
    content = campaign.contents.get(language="fr", is_current=True)
    services.content_save(
        campaign=campaign,
        language="fr",
        fields={
            "subject": content.subject + " !",
            "body_text": content.body_text,
            "body_html": content.body_html,
            "page_text": content.page_text,
        },
        user=alice,
    )
    client.force_login(bob)
    client.post(_url("dashboard_action", campaign, "approve"))
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


def test_it_does_not_let_the_admin_launch_button_skip_the_approval(client, four_eyes):
    client.force_login(member_make("DPO", "alice"))
    url = reverse(
        "admin:notifications_campaign_lifecycle", args=[four_eyes.pk, "launch"]
    )
    response = client.post(url)
    assert response["Location"] == _url("dashboard_action", four_eyes, "launch")
    four_eyes.refresh_from_db()
    assert four_eyes.status == CampaignStatus.DRAFT


def test_it_lets_hr_ask_but_not_approve(client, four_eyes):
    client.force_login(member_make("HR", "hr"))
    client.post(_url("dashboard_action", four_eyes, "launch"))
    client.force_login(member_make("HR", "hr2"))
    client.post(_url("dashboard_action", four_eyes, "approve"))
    four_eyes.refresh_from_db()
    assert four_eyes.status == CampaignStatus.DRAFT


# --- queries ------------------------------------------------------------------------


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize(
    "page", ["dashboard", "dashboard_live", "people", "csv", "xlsx", "overview"]
)
def test_it_runs_as_many_queries_for_200_people_as_for_10(client, page):
    def url(campaign: Campaign) -> str:
        if page == "overview":
            return reverse("admin:notifications_campaign_dashboard_overview")
        if page in ("csv", "xlsx"):
            return _url("outstanding_export", campaign, page)
        return _url(page, campaign)

    client.force_login(member_make("DPO"))
    small = campaign_built(10, name="Small", prefix="s")
    counts = [_queries(client, url(small.campaign))]
    large = campaign_built(200, name="Large", prefix="l")
    counts.append(_queries(client, url(large.campaign)))
    assert counts[0] == counts[1]
    assert counts[1] <= 15
