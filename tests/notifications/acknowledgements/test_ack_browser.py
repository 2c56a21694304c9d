"""End to end in headless Chromium: the link from a message received by a
real SMTP server, the page in French, then English, the acknowledgement, and
the DPO's count."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from notifications.campaigns import services
from tests.campaign_factories import EmployeeFactory, campaign_make
from tests.fake_esp import SmtpSink
from tests.services import chromium_launch


def _acknowledged(campaign_id: int) -> int:
    out = io.StringIO()
    call_command("campaign_status", str(campaign_id), "--json", stdout=out)
    return json.loads(out.getvalue())["acknowledged"]


def _text_part(message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode(part.get_content_charset())
    raise AssertionError("no text part")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_acknowledges_from_a_received_message(live_server, monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls
    # of the test itself are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    cache.clear()
    EmployeeFactory(email="zoe@example.com", first_name="Zoé", language="fr")
    campaign = campaign_make(
        deadline=timezone.now() + timedelta(days=10),
        window=services.WindowSpec(enabled=False),
    )
    services.campaign_launch(campaign=campaign)
    with (
        SmtpSink() as sink,
        override_settings(
            SITE_URL=live_server.url,
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=sink.port,
        ),
    ):
        call_command("send_due", stdout=io.StringIO())
        [received] = sink.received
    assert received.to == "zoe@example.com"
    url = re.search(r"http://\S+/a/[\w-]+/", _text_part(received.message)).group(0)
    assert url.startswith(live_server.url)
    assert _acknowledged(campaign.pk) == 0

    with sync_playwright() as p:
        browser = chromium_launch(p)
        page = browser.new_page(locale="fr-FR")
        page.goto(url)
        assert page.get_attribute("html", "lang") == "fr"
        assert "LinkedIn entraîne ses modèles" in page.text_content("article")
        page.get_by_role("link", name="English").click()
        assert page.get_attribute("html", "lang") == "en"
        assert "LinkedIn trains its generative AI" in page.text_content("article")
        page.get_by_label("I do not use LinkedIn").check()
        page.get_by_label("I have read this information.").check()
        page.get_by_role("button", name="I acknowledge").click()
        assert "your acknowledgement is recorded" in page.text_content("#result")
        browser.close()
    assert _acknowledged(campaign.pk) == 1
