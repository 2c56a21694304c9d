"""The link page's fast path keeps its behaviour: form token, prepared lookup,
rate limit on Redis, admin untouched (issue 4's speed work)."""

from __future__ import annotations

import collections
import re

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connection
from django.middleware.csrf import _unmask_cipher_token
from django.test import Client, RequestFactory, override_settings

from notifications.acknowledgements import csrftoken
from notifications.models import Recipient
from tests.ack_helpers import (
    confirmed_post,
    forget_cached_contents,
    launched,
    link,
    shared_redis_cache,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
WINDOW = 60


@pytest.fixture(autouse=True)
def _fresh():
    cache.clear()
    forget_cached_contents()
    yield
    cache.clear()


def _form_token(response) -> str:
    return re.search(
        r'name="csrfmiddlewaretoken" value="(\w+)"', response.content.decode()
    ).group(1)


def test_a_returning_browser_gets_a_fresh_form_token_for_its_own_cookie():
    campaign, [recipient] = launched()
    browser = Client(enforce_csrf_checks=True)
    first = browser.get(link(recipient))
    cookie = first.cookies["csrftoken"].value
    second = browser.get(link(recipient))
    tokens = [_form_token(first), _form_token(second)]
    # Masked differently on every page (BREACH), the same secret underneath.
    assert tokens[0] != tokens[1]
    assert {_unmask_cipher_token(t) for t in tokens} == {cookie}
    data = {**confirmed_post(campaign), "csrfmiddlewaretoken": tokens[0]}
    assert browser.post(link(recipient), data).status_code == 200
    assert Recipient.objects.get(pk=recipient.pk).acknowledged_at is not None


def test_the_form_token_is_djangos_format_with_uniform_characters():
    factory = RequestFactory()
    counts: collections.Counter[str] = collections.Counter()
    seen = set()
    for _ in range(2000):
        request = factory.get("/")
        token = csrftoken.get_token(request)
        secret = request.META["CSRF_COOKIE"]
        assert re.fullmatch(r"[a-zA-Z0-9]{64}", token)
        assert re.fullmatch(r"[a-zA-Z0-9]{32}", secret)
        assert _unmask_cipher_token(token) == secret
        assert request.META["CSRF_COOKIE_NEEDS_UPDATE"] is True
        counts.update(token)
        seen.add(secret)
    assert len(seen) == 2000
    # 128,000 characters over 62: about 2,065 each; a biased draw (b % 62
    # without rejection) would give the first 8 letters ~2,300.
    assert len(counts) == 62
    assert min(counts.values()) > 1800 and max(counts.values()) < 2330


@pytest.mark.postgres
def test_the_link_lookup_is_prepared_once_a_connection_has_served_a_few_pages():
    _campaign, recipients = launched(employees=6)
    connection.ensure_connection()
    connection.connection.execute("DEALLOCATE ALL")
    connection.connection._prepared.clear()  # psycopg's record of them
    for recipient in recipients:
        assert Client().get(link(recipient)).status_code == 200
    prepared = connection.connection.execute(
        "SELECT statement FROM pg_prepared_statements"
    ).fetchall()
    assert [s for (s,) in prepared if "token_hash" in s]
    # The prepared lookup still finds nobody for a bad link.
    assert Client().get("/a/" + "A" * 43 + "/").status_code == 404


@pytest.mark.postgres
def test_the_lookup_is_never_prepared_when_prepared_statements_are_off(monkeypatch):
    _campaign, recipients = launched(employees=6)
    connection.ensure_connection()
    connection.connection.execute("DEALLOCATE ALL")
    connection.connection._prepared.clear()
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "prepare_threshold", None)
    for recipient in recipients:
        assert Client().get(link(recipient)).status_code == 200
    prepared = connection.connection.execute(
        "SELECT statement FROM pg_prepared_statements"
    ).fetchall()
    assert not [s for (s,) in prepared if "token_hash" in s]


def test_the_link_page_leaves_a_logged_in_dpos_admin_session_alone():
    _campaign, [recipient] = launched()
    dpo = UserFactory(username="dpo", is_staff=True)
    dpo.groups.add(Group.objects.get(name="DPO"))
    browser = Client()
    browser.force_login(dpo)
    page = browser.get(link(recipient))
    assert page.status_code == 200
    assert "sessionid" not in page.cookies and "messages" not in page.cookies
    assert "no-store" in page["Cache-Control"] and page.has_header("Expires")
    assert browser.get("/admin/").status_code == 200  # still logged in
    assert browser.get("/verify/").status_code == 200


@pytest.mark.redis
def test_the_rate_limit_survives_a_redis_script_flush_and_dropped_connections():
    _campaign, [recipient] = launched()
    client = Client()
    with shared_redis_cache() as (prefix, shared, other):
        with override_settings(CACHES=shared, ACK_RATE_LIMIT=3):
            assert client.get(link(recipient)).status_code == 200
            other.script_flush()  # a Redis restart forgets loaded scripts
            assert client.get(link(recipient)).status_code == 200
            other.client_kill_filter(_type="normal", skipme=True)  # drops ours
            assert client.get(link(recipient)).status_code == 200
            [key] = other.keys(f"{prefix}:*ack-rl:all:*")
            assert int(other.get(key)) == 3
            assert 0 < other.ttl(key) <= 2 * WINDOW
            assert client.get(link(recipient)).status_code == 429
