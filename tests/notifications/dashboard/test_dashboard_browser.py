"""End to end in headless Chromium, as a DPO: import a staff file through
the admin, create a campaign from the LinkedIn template, launch it from its
dashboard, send the first message to a real SMTP server, acknowledge two
links from the received mail, and watch the dashboard's figures and chart
change (the open page refreshes by itself). Screenshots go to artifacts/.

A real Celery worker process (on Redis, against the test database: a SQLite
file via TEST_SQLITE_NAME, as `python3 dev.py test` sets, or PostgreSQL)
sends the messages; the test plays beat by sending the dispatcher's tick.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connections
from django.test import override_settings
from django.utils import timezone

from notifications.models import Campaign, CampaignStatus
from tests.factories import PASSWORD, UserFactory
from tests.fake_esp import SmtpSink
from tests.services import chromium_launch
from tests.workers import beat_until, sending_worker

ARTIFACTS = Path(__file__).resolve().parents[3] / "artifacts"
STAFF = (
    "email,first name,last name,department,country,language,manager email\n"
    "claire.martin@example.com,Claire,Martin,Legal,FR,fr,\n"
    "zoe.durand@example.com,Zoé,Durand,Sales,FR,fr,claire.martin@example.com\n"
    "tom.baker@example.com,Tom,Baker,Sales,UK,en,claire.martin@example.com\n"
    "ana.lopez@example.com,Ana,López,IT,ES,en,claire.martin@example.com\n"
)


def _text_part(message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode(part.get_content_charset())
    raise AssertionError("no text part")


def _link(received) -> str:
    return re.search(r"http://\S+/a/[\w-]+/", _text_part(received.message)).group(0)


def _figure(page, name: str) -> str:
    return page.text_content(f"#fig-{name}").strip()


@pytest.mark.browser
@pytest.mark.redis
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_it_shows_the_campaign_progress_to_the_dpo(
    live_server, monkeypatch, tmp_path, roles
):
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    cache.clear()
    ARTIFACTS.mkdir(exist_ok=True)
    dpo = UserFactory(username="dpo-browser")
    dpo.groups.add(Group.objects.get(name="DPO"))
    staff_file = tmp_path / "staff.csv"
    staff_file.write_text(STAFF, encoding="utf-8")
    deadline = timezone.localtime() + timedelta(days=10)

    with (
        SmtpSink() as sink,
        override_settings(
            SITE_URL=live_server.url,
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=sink.port,
        ),
        sync_playwright() as p,
    ):
        browser = chromium_launch(p)
        page = browser.new_page(locale="en-US", viewport={"width": 1280, "height": 900})
        admin = f"{live_server.url}/admin/"

        page.goto(admin)
        page.fill("#id_username", "dpo-browser")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        expect(page.locator("#user-tools")).to_contain_text("dpo-browser")

        # The staff file, through the admin's import pages.
        page.goto(admin + "employees/importrun/upload/")
        page.set_input_files("input[type=file]", str(staff_file))
        page.click("input[type=submit]")
        page.click("#import-confirm")
        expect(page.locator("#import-done")).to_be_visible()

        # A campaign from the LinkedIn template.
        page.goto(admin + "notifications/campaign/add/")
        page.fill("#id_name", "LinkedIn AI training")
        page.fill("#id_deadline_0", deadline.strftime("%Y-%m-%d"))
        page.fill("#id_deadline_1", "18:00:00")
        page.select_option("#id_template", "linkedin-ai-optout")
        page.uncheck("#id_window_enabled")
        page.click("input[name=_save]")
        expect(page.locator(".messagelist .success")).to_contain_text("added")
        campaign = Campaign.objects.get(name="LinkedIn AI training")
        # The template's text in every configured language.
        assert campaign.contents.filter(is_current=True).count() == len(
            settings.LANGUAGES
        )

        # Its dashboard, from the campaign's page; launch with confirmation.
        page.goto(admin + f"notifications/campaign/{campaign.pk}/change/")
        page.get_by_role("link", name="Dashboard", exact=True).first.click()
        expect(page.locator("#fig-audience")).to_have_text("4")
        page.get_by_role("link", name="Launch", exact=True).click()
        expect(page.locator(".dash-confirm")).to_contain_text("4 employees")
        page.get_by_role("button", name="Yes: Launch").click()
        expect(page.locator("#campaign-status")).to_have_text("Scheduled")
        campaign.refresh_from_db()
        assert campaign.status == CampaignStatus.SCHEDULED

        # A real Celery worker process sends the first message to the SMTP
        # server; the test plays beat, sending the dispatcher's tick by name.
        with sending_worker({**sink.env(), "SITE_URL": live_server.url}) as w:
            assert beat_until(w, lambda: len(sink.received) >= 4, timeout=90)
        assert sorted(r.to for r in sink.received) == sorted(
            line.split(",")[0] for line in STAFF.splitlines()[1:]
        )
        page.reload()
        expect(page.locator("#fig-sent")).to_have_text("4")
        expect(page.locator("#fig-acknowledged")).to_have_text("0")
        page.screenshot(path=str(ARTIFACTS / "dashboard-1-sent.png"), full_page=True)
        before = page.get_attribute("polyline.acks", "points")

        # Two people acknowledge from the links in their mail, in a second tab.
        employee = browser.new_page(locale="en-US")
        by_address = {r.to: r for r in sink.received}
        for address, answer in (
            ("zoe.durand@example.com", "I have unticked the option"),
            ("tom.baker@example.com", "I do not use LinkedIn"),
        ):
            employee.goto(_link(by_address[address]))
            english = employee.get_by_role("link", name="English")
            if english.count():  # a French speaker's page: switch
                english.click()
            employee.get_by_label(answer).check()
            employee.get_by_label("I have read this information.").check()
            employee.get_by_role("button", name="I acknowledge").click()
            expect(employee.locator("#result")).to_contain_text("recorded")

        # The open dashboard refreshes by itself (no reload).
        expect(page.locator("#fig-acknowledged")).to_have_text("2", timeout=15_000)
        expect(page.locator("#fig-outstanding")).to_have_text("2")
        assert page.get_attribute("polyline.acks", "points") != before
        answers = page.locator(".dash-answers")
        expect(answers).to_contain_text("I have unticked the option")
        page.screenshot(
            path=str(ARTIFACTS / "dashboard-2-acknowledged.png"), full_page=True
        )

        # Who is left, and the same page for a French DPO.
        page.click("text=Who has not acknowledged yet")
        expect(page.locator("#people")).to_contain_text("ana.lopez@example.com")
        expect(page.locator("#people")).not_to_contain_text("zoe.durand@example.com")
        page.screenshot(path=str(ARTIFACTS / "dashboard-3-outstanding.png"))
        french = browser.new_context(
            locale="fr-FR", viewport={"width": 1280, "height": 900}
        )
        french.add_cookies(page.context.cookies())
        fr_page = french.new_page()
        fr_page.goto(admin + f"notifications/campaign/{campaign.pk}/dashboard/")
        assert fr_page.get_attribute("html", "lang") == "fr"
        fr_page.screenshot(path=str(ARTIFACTS / "dashboard-4-fr.png"), full_page=True)
        browser.close()
        # The queries above ran inside Playwright's sync API, whose context
        # gets its own database connection (Django's are per context): close
        # it here, or it outlives the test and blocks dropping the test
        # database at the end of the run.
        connections.close_all()
