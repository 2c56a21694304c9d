"""Mail security scanners fetch every link of a message, follow redirects,
some render the page and some submit its forms empty. None of that may count
as an acknowledgement."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urljoin, urlsplit

import pytest
from django.core.cache import cache
from django.test import Client

from notifications.models import Acknowledgement, Recipient
from tests.ack_helpers import (
    PROOFPOINT_UA,
    SAFE_LINKS_UA,
    confirmed_post,
    launched,
    link,
)

pytestmark = pytest.mark.django_db

_URL = re.compile(r'(?:href|src|action)="([^"]*)"')


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()


def _crawl(client: Client, start: str) -> set[str]:
    """GET and HEAD every same-site URL reachable from ``start``, following
    every redirect, as a scanner does. Returns the paths fetched."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        assert client.head(url, follow=True).status_code < 500
        response = client.get(url, follow=True)
        assert response.status_code < 500
        if "html" not in response.get("Content-Type", ""):
            continue
        for found in _URL.findall(response.content.decode()):
            target = urljoin(url, unescape(found))
            parts = urlsplit(target)
            if parts.netloc and parts.netloc != "testserver":
                continue  # other sites: not ours to fetch
            todo.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return seen


@pytest.mark.parametrize("agent", [SAFE_LINKS_UA, PROOFPOINT_UA])
def test_it_counts_nothing_when_a_scanner_follows_every_link(agent):
    _campaign, recipients = launched(employees=2)
    scanner = Client(HTTP_USER_AGENT=agent)
    for recipient in recipients:
        fetched = _crawl(scanner, link(recipient))
        assert any("?lang=en" in url for url in fetched)  # it did crawl the page
        assert "/verify/" in fetched
    assert not Recipient.objects.filter(acknowledged_at__isnull=False).exists()
    assert not Acknowledgement.objects.exists()


def test_it_answers_head_without_a_body_or_a_write():
    _campaign, [recipient] = launched()
    response = Client(HTTP_USER_AGENT=SAFE_LINKS_UA).head(link(recipient))
    assert response.status_code == 200
    assert response.content == b""
    recipient.refresh_from_db()
    assert recipient.acknowledged_at is None


def test_it_refuses_a_post_without_the_forms_csrf_token():
    campaign, [recipient] = launched()
    scanner = Client(enforce_csrf_checks=True, HTTP_USER_AGENT=PROOFPOINT_UA)
    scanner.get(link(recipient))  # has the cookie, but posts no form token
    response = scanner.post(link(recipient), confirmed_post(campaign))
    assert response.status_code == 403
    recipient.refresh_from_db()
    assert recipient.acknowledged_at is None


def test_it_records_nothing_when_a_scanner_submits_the_form_as_served():
    """A rendering scanner posts the form with its CSRF token but ticks
    nothing: no confirmation, no answer, nothing recorded."""
    _campaign, [recipient] = launched()
    scanner = Client(enforce_csrf_checks=True, HTTP_USER_AGENT=SAFE_LINKS_UA)
    page = scanner.get(link(recipient)).content.decode()
    hidden = dict(
        re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)
    )
    assert "csrfmiddlewaretoken" in hidden
    response = scanner.post(link(recipient), hidden)
    assert response.status_code == 400
    recipient.refresh_from_db()
    assert recipient.acknowledged_at is None


def test_it_records_the_form_a_person_ticked_with_csrf():
    campaign, [recipient] = launched()
    person = Client(enforce_csrf_checks=True)
    page = person.get(link(recipient)).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    data = {**confirmed_post(campaign), "csrfmiddlewaretoken": token}
    assert person.post(link(recipient), data).status_code == 200
    recipient.refresh_from_db()
    assert recipient.acknowledged_at is not None
