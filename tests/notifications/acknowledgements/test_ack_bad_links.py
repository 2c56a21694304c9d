"""Mangled links: every path under /a/ that is not a well-formed link gets
the unknown token's page and counts as a failure; the rest of the site has
its own friendly 404."""

from __future__ import annotations

import re

import pytest
from django.test import Client, override_settings

from tests.ack_helpers import launched, link

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_link_state")]

UNKNOWN = "/a/" + "A" * 43 + "/"

# Built from a real token: what a mail client, a copy and paste or a
# scanner may make of a link, and what a guesser may try.
MANGLED = {
    "encoded slash": lambda t: f"/a/{t[:10]}%2F{t[10:]}/",
    "encoded slash before the last": lambda t: f"/a/{t}%2F/",
    "extra segment": lambda t: f"/a/{t}/x/",
    "extra segment without slash": lambda t: f"/a/{t}/x",
    "token twice": lambda t: f"/a/{t}/{t}/",
    "empty token": lambda t: "/a//",
    "empty token then the token": lambda t: f"/a//{t}/",
    "nothing after a/": lambda t: "/a/",
    "dot segment": lambda t: f"/a/./{t}/",
}


@pytest.fixture
def token() -> str:
    _campaign, [recipient] = launched()
    return link(recipient).split("/")[2]


def _headers(response) -> dict[str, str]:
    # Expires is the time of the response: the same value, a second apart.
    return {k: v for k, v in response.headers.items() if k != "Expires"}


@pytest.mark.parametrize(
    "language, title", [("en", "Link not recognised"), ("fr", "Lien non reconnu")]
)
@pytest.mark.parametrize("form", list(MANGLED))
def test_a_mangled_link_gets_the_unknown_tokens_page_byte_for_byte(
    token, form, language, title
):
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    unknown = client.get(UNKNOWN)
    assert unknown.status_code == 404
    assert title in unknown.content.decode()
    response = client.get(MANGLED[form](token))
    assert response.status_code == 404
    assert response.content == unknown.content
    assert _headers(response) == _headers(unknown)
    assert response["Cache-Control"] == unknown["Cache-Control"]
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Vary"] == unknown["Vary"]
    assert "Expires" in response


@pytest.mark.parametrize("form", ["extra segment", "nothing after a/"])
def test_an_unknown_or_mangled_link_answers_in_the_language_asked_with_lang(
    token, form
):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    unknown = client.get(UNKNOWN + "?lang=de")
    assert "Link nicht erkannt" in unknown.content.decode()
    assert unknown["Content-Language"] == "de"
    response = client.get(MANGLED[form](token) + "?lang=de")
    assert (response.status_code, response.content) == (404, unknown.content)
    # Not one of ours: the browser's language, as without ?lang=.
    other = client.get(UNKNOWN + "?lang=xx")
    assert "Link not recognised" in other.content.decode()
    assert other.content == client.get(UNKNOWN).content


def test_a_post_to_a_mangled_link_gets_the_unknown_tokens_answer(token):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    unknown = client.post(UNKNOWN, {"confirm": "on"})
    response = client.post(f"/a/{token}/x/", {"confirm": "on"})
    assert (response.status_code, response.content) == (404, unknown.content)
    assert client.put(f"/a/{token}/x/").status_code == client.put(UNKNOWN).status_code


def test_the_real_link_still_opens_and_a_lost_final_slash_is_put_back(token):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert client.get(f"/a/{token}/").status_code == 200
    # One segment without its slash: redirected, whatever the token (the
    # same for an unknown one), rather than answered as a failure.
    lost = client.get(f"/a/{token}")
    assert lost.status_code == 301
    assert lost["Location"] == f"/a/{token}/"
    assert client.get("/a/unknown")["Location"] == "/a/unknown/"
    assert client.get("/a")["Location"] == "/a/"


@pytest.mark.parametrize("form", list(MANGLED))
@override_settings(ACK_RATE_LIMIT_FAILURES=3)
def test_mangled_links_count_as_failures_for_the_address(token, form):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    for _ in range(3):
        assert client.get(MANGLED[form](token)).status_code == 404
    for path in (MANGLED[form](token), UNKNOWN):
        blocked = client.get(path)
        assert blocked.status_code == 429
        assert "try again in a minute" in blocked.content.decode()
        assert int(blocked["Retry-After"]) > 0
        assert "no-store" in blocked["Cache-Control"]
    # Only unknown links are refused: the valid one keeps working.
    assert client.get(f"/a/{token}/").status_code == 200


@override_settings(ACK_RATE_LIMIT_FAILURES=4)
def test_mangled_and_unknown_links_add_up_to_the_same_limit(token):
    client = Client(HTTP_ACCEPT_LANGUAGE="fr")
    for path in (UNKNOWN, f"/a/{token}/x/", "/a//", f"/a/{token[:5]}%2F{token[5:]}/"):
        assert client.get(path).status_code == 404
    blocked = client.get(UNKNOWN)
    assert blocked.status_code == 429
    assert "Trop de tentatives" in blocked.content.decode()
    assert client.get(f"/a/{token}/").status_code == 200


@override_settings(ACK_RATE_LIMIT=2, ACK_RATE_LIMIT_FAILURES=0)
def test_mangled_links_count_toward_the_limit_on_every_request(token):
    client = Client()
    assert client.get(f"/a/{token}/x/").status_code == 404
    assert client.get(f"/a/{token}/").status_code == 200
    assert client.get(f"/a/{token}/x/").status_code == 429


@pytest.mark.parametrize(
    "language, title, text",
    [
        ("en", "Page not found", "This address does not match any page."),
        ("fr", "Page non trouvée", "Cette adresse ne correspond à aucune page."),
    ],
)
@pytest.mark.parametrize("path", ["/nothing/", "/verify/x/", "/admin-x/", "/static/x"])
def test_the_rest_of_the_site_has_a_friendly_404_in_the_visitors_language(
    path, language, title, text
):
    response = Client(HTTP_ACCEPT_LANGUAGE=language).get(path)
    assert response.status_code == 404
    page = response.content.decode()
    assert f'<html lang="{language}">' in page
    assert f"<h1>{title}</h1>" in page
    assert text in page
    assert "Not Found" not in page  # not Django's bare page
    assert path not in page  # the address is not echoed back


def test_the_sites_404_names_no_campaign_and_loads_nothing_from_elsewhere(db):
    launched(name="Secret Merger")
    page = Client().get("/nothing/").content.decode()
    assert "Secret Merger" not in page
    assert "campaign" not in page.lower()
    assert "<script" not in page
    for tag, url in re.findall(
        r'<(link|img|iframe|source)[^>]+(?:href|src)="([^"]+)"', page
    ):
        assert url.startswith("/"), (tag, url)
