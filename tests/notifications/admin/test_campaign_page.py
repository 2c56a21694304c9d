"""The campaign page as the DPO reads it: the preview's HTML shown whole, the
steps in words, the evidence link for those allowed, the warnings at save."""

from __future__ import annotations

from datetime import datetime, timedelta
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Permission, User
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
