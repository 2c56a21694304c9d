"""The HTML part of a campaign message in a real browser, as a phone and a
desktop client would draw it: no horizontal scrolling, the button visible.
Screenshots go to artifacts/screenshots/ (ignored by git) for a human eye."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from notifications.campaigns import services
from notifications.models import StepKind
from tests.campaign_factories import PARIS, EmployeeFactory, campaign_make
from tests.services import chromium_launch

SHOTS = Path(__file__).resolve().parents[3] / "artifacts" / "screenshots"


@pytest.mark.browser
@pytest.mark.django_db
def test_the_html_part_fits_a_phone_and_a_desktop_with_its_button_visible():
    from playwright.sync_api import sync_playwright

    campaign = campaign_make(deadline=datetime(2026, 12, 14, 18, 0, tzinfo=PARIS))
    step = campaign.steps.get(kind=StepKind.FIRST)
    htmls = {
        language: services.message_for_employee(
            step=step,
            employee=EmployeeFactory(language=language, first_name="Marie-Amélie"),
        ).body_html
        for language in ("fr", "en")
    }
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = chromium_launch(p)
        try:
            for width, scheme in ((375, "light"), (375, "dark"), (800, "light")):
                page = browser.new_page(
                    viewport={"width": width, "height": 800}, color_scheme=scheme
                )
                for language, html in htmls.items():
                    page.set_content(html)
                    overflow = page.evaluate(
                        "document.documentElement.scrollWidth"
                        " - document.documentElement.clientWidth"
                    )
                    assert overflow <= 0, (language, width, overflow)
                    button = page.locator("a.ack-button")
                    assert button.is_visible()
                    box = button.bounding_box()
                    assert box["x"] >= 0 and box["x"] + box["width"] <= width
                    assert box["height"] >= 40  # a thumb's target
                    page.screenshot(
                        path=SHOTS / f"mail-{language}-{width}-{scheme}.png",
                        full_page=True,
                    )
                page.close()
        finally:
            browser.close()
