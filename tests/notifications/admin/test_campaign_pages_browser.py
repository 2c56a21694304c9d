"""The campaign pages in headless Chromium at 1280 px, in English and French,
as a new DPO reads them: the add and change pages, the preview, the launch
with its confirmation, the dashboard, the people list, the staff import's
preview and the four-eyes approval page.

On each page: nothing runs past the right edge, the buttons do not cover
the title, the chart's labels do not cover each other, no stored value
(``manager_digest``, ``pending``) nor ISO timestamp shows, and the preview's
frame holds the message. Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.test import override_settings

from notifications.campaigns import steering
from notifications.models import Campaign, CampaignStatus
from tests.campaign_factories import PARIS, EmployeeFactory, campaign_make
from tests.services import chromium_launch

SCREENSHOTS = Path(__file__).resolve().parents[3] / "artifacts" / "screenshots"
RAW = re.compile(
    r"\b(manager_digest|last_call|first|reminder|pending|dispatching|scheduled"
    r"|skipped|missed|draft)\b"
)
ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
WORDS = {
    "en": {"launch": "Launch", "yes": "Yes: Launch", "hello": "Hello"},
    "fr": {"launch": "Lancer", "yes": "Oui : Lancer", "hello": "Bonjour"},
}

_OVERFLOW = "document.documentElement.scrollWidth - window.innerWidth"
_TOOLS_OVER_TITLE = """() => {
  const boxes = [...document.querySelectorAll('#content > h1, #content > h2')]
    .map(e => e.getBoundingClientRect());
  const hits = [];
  for (const a of document.querySelectorAll('.object-tools a')) {
    const r = a.getBoundingClientRect();
    for (const b of boxes) {
      if (r.left < b.right && b.left < r.right && r.top < b.bottom && b.top < r.bottom)
        hits.push(a.textContent.trim());
    }
  }
  return hits;
}"""
_LABELS_OVERLAP = """() => {
  const r = [...document.querySelectorAll('.ack-chart text')]
    .map(t => [t.textContent, t.getBoundingClientRect()]);
  const hits = [];
  for (let i = 0; i < r.length; i++) for (let j = i + 1; j < r.length; j++) {
    const [a, p] = r[i], [b, q] = r[j];
    if (p.left < q.right && q.left < p.right && p.top < q.bottom && q.top < p.bottom)
      hits.push(a + ' / ' + b);
  }
  return [r.length, hits];
}"""


def _monday_evening() -> datetime:
    """A Monday 18:00 a month or more ahead: D-3 and D-2 fold onto the
    Monday's 09:00 opening, and the chart's labels crowd together."""
    day = datetime.now(PARIS).replace(hour=18, minute=0, second=0, microsecond=0)
    day += timedelta(days=35)
    return day + timedelta(days=(7 - day.weekday()) % 7)


def _check(page, name: str, *, tools: bool = False) -> str:
    """The checks every page passes; returns its visible text."""
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    assert page.evaluate(_OVERFLOW) <= 0, f"{name}: runs past the right edge"
    if tools:
        assert page.evaluate(_TOOLS_OVER_TITLE) == [], f"{name}: buttons over title"
    text = page.inner_text("#content")
    assert not ISO.search(text), f"{name}: ISO timestamp {ISO.search(text)}"
    assert not RAW.search(text.replace("\n", " ")) or name.startswith("en-"), name
    return text


def _no_raw_step_values(page, name: str) -> None:
    cells = page.locator("table.campaign-steps td").all_inner_texts()
    assert cells, name
    raw = [c for c in cells if RAW.fullmatch(c.strip())]
    assert raw == [], f"{name}: raw values {raw}"


def _login(context, url: str, username: str) -> object:
    page = context.new_page()
    page.goto(f"{url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    return page


def _walk(page, url: str, language: str, campaign: Campaign) -> None:
    words = WORDS[language]
    admin = f"{url}/admin/notifications/campaign/"
    page.goto(admin + "add/")
    _check(page, f"{language}-1-add")

    page.goto(admin + f"{campaign.pk}/change/")
    _check(page, f"{language}-2-change", tools=True)
    _no_raw_step_values(page, language)
    assert page.locator(".campaign-folded").count() == 1

    page.goto(admin + f"{campaign.pk}/preview/")
    page.fill("#preview-employee", f"{language}@example.com")
    page.click("input[type=submit][value]")
    frame = page.frame_locator("iframe[srcdoc]").locator("body")
    assert words["hello"] in frame.inner_text()
    _check(page, f"{language}-3-preview")

    page.goto(admin + f"{campaign.pk}/change/")
    page.get_by_role("link", name=words["launch"], exact=True).click()
    # One per language of the message (the template's, in every configured one).
    languages = campaign.contents.filter(is_current=True).count()
    assert page.locator(".dash-summary details").count() == languages
    assert page.locator(".dash-preview-link").is_visible()
    _check(page, f"{language}-4-launch-confirm")
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT  # asking changed nothing
    page.get_by_role("button", name=words["yes"]).click()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED
    _check(page, f"{language}-5-launched", tools=True)
    _no_raw_step_values(page, language)

    page.goto(admin + f"{campaign.pk}/dashboard/")
    count, overlaps = page.evaluate(_LABELS_OVERLAP)
    assert count >= 5 and overlaps == [], overlaps
    assert page.locator(".dash-evidence").count() == 3  # CSV, HTML, signed bundle
    _check(page, f"{language}-6-dashboard")
    _people_and_import(page, url, language)


def _people_and_import(page, url: str, language: str) -> None:
    page.goto(f"{url}/admin/employees/employee/")
    text = _check(page, f"{language}-8-people")
    assert "en@example.com" in text and "fr@example.com" in text
    # A full-list file that leaves one person out: the preview lists who
    # would be deactivated before anything is written.
    page.goto(f"{url}/admin/employees/importrun/upload/")
    staff = "email;first name;language\nen@example.com;Ana;en\nnew@example.com;Né;fr\n"
    page.set_input_files(
        "input[type=file]",
        files=[{"name": "staff.csv", "mimeType": "text/csv", "buffer": staff.encode()}],
    )
    page.check("input[name=sync]")
    page.locator("#content form input[type=submit]").click()
    page.wait_for_selector('[data-count="created"]')
    text = _check(page, f"{language}-9-import-preview")
    assert page.inner_text('[data-count="created"]') == "1"
    assert "fr@example.com" in text  # who the full list would deactivate


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_lays_out_the_campaign_pages_in_a_browser(live_server, monkeypatch):
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    EmployeeFactory(language="en", first_name="Ana", email="en@example.com")
    EmployeeFactory(language="fr", first_name="Zoé", email="fr@example.com")
    User.objects.create_superuser("dpo", "dpo@example.com", "pw")
    second = User.objects.create_superuser("dpo2", "dpo2@example.com", "pw")
    campaigns = {
        language: campaign_make(name=f"LinkedIn {language}", deadline=_monday_evening())
        for language in WORDS
    }
    approval = campaign_make(name="Four eyes", deadline=_monday_evening())
    steering.launch_request(campaign=approval, user=User.objects.get(username="dpo"))
    with sync_playwright() as p:
        browser = chromium_launch(p)
        for language, campaign in campaigns.items():
            options = {
                "locale": {"en": "en-US", "fr": "fr-FR"}[language],
                "viewport": {"width": 1280, "height": 900},
            }
            context = browser.new_context(**options)
            page = _login(context, live_server.url, "dpo")
            assert page.get_attribute("html", "lang") == language
            _walk(page, live_server.url, language, campaign)
            context.close()
            # The second DPO's approval page: the message and its preview.
            context = browser.new_context(**options)
            with override_settings(LAUNCH_REQUIRES_APPROVAL=True):
                page = _login(context, live_server.url, second.username)
                page.goto(
                    f"{live_server.url}/admin/notifications/campaign/"
                    f"{approval.pk}/dashboard/approve/"
                )
                subjects = approval.contents.filter(is_current=True)
                text = _check(page, f"{language}-7-approval")
                assert all(c.subject in text for c in subjects)
                assert page.locator(".dash-preview-link").is_visible()
            context.close()
        browser.close()
        # The queries above ran inside Playwright's sync API, on a connection
        # of its own: close it here or it blocks dropping the test database.
        connections.close_all()
