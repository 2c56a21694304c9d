"""Sign-in through the identity provider in headless Chromium: the admin's
login page, a real OpenID Connect provider running in the test
(tests/oidc_provider.py) and Django's live server."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connections

from audit.models import AuditAction, AuditEntry
from console.models import SsoIdentity
from tests.oidc_provider import OidcProvider, sso_settings
from tests.services import chromium_launch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def provider(settings, roles, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    cache.clear()
    with OidcProvider() as running:
        sso_settings(settings, running)
        yield running


@pytest.fixture
def page(live_server, provider):
    # After the provider: its fixtures query the database, which Django
    # refuses once Playwright's event loop runs in this thread.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = chromium_launch(p)
        yield browser.new_page(locale="en-US")
        browser.close()
        # The test's queries ran inside Playwright's sync API, with their own
        # connection: closed here, or it blocks dropping the test database.
        connections.close_all()


def _sign_in(page, live_server) -> None:
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.click("#sso-login-button")


def _roles(sub: str) -> list[str]:
    user = SsoIdentity.objects.get(sub=sub).user
    return sorted(user.groups.values_list("name", flat=True))


def test_it_signs_in_maps_and_removes_roles(page, live_server, provider):
    from playwright.sync_api import expect

    provider.sign_in_as("claire", ["dpo-team"])
    _sign_in(page, live_server)
    expect(page.locator("#user-tools")).to_contain_text("claire")
    expect(page.locator("#content-main")).to_contain_text("Campaigns")
    assert _roles("claire") == ["DPO"]

    # Logging out ends the provider's session too, then comes back here.
    page.click("#logout-form button")
    page.wait_for_url(f"{live_server.url}/admin/login/**")
    assert provider.logouts and provider.logouts[0]["id_token_hint"]

    provider.sign_in_as("claire", ["auditors"])
    _sign_in(page, live_server)
    expect(page.locator("#user-tools")).to_contain_text("claire")
    assert _roles("claire") == ["Viewer"]
    page.click("#logout-form button")
    page.wait_for_url(f"{live_server.url}/admin/login/**")

    provider.sign_in_as("claire", ["sales"])
    _sign_in(page, live_server)
    expect(page.locator("#sso-refused")).to_contain_text("none of the groups")
    assert _roles("claire") == [] and not User.objects.get().is_staff

    # Someone the provider knows but gives no mapped group: no account at all.
    provider.sign_in_as("tom", ["sales"])
    _sign_in(page, live_server)
    expect(page.locator("#sso-refused")).to_contain_text("none of the groups")
    assert User.objects.count() == 1


def test_it_refuses_forged_tokens(page, live_server, provider):
    from playwright.sync_api import expect

    provider.sign_in_as("claire", ["dpo-team"])
    for forge in ("wrong_key", "wrong_aud", "expired"):
        provider.forge = forge
        _sign_in(page, live_server)
        expect(page.locator("#sso-refused")).to_contain_text("could not be completed")
    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("#sso-login-button")).to_be_visible()
    assert not User.objects.exists()
    refusals = AuditEntry.objects.order_by("seq")
    assert [e.action for e in refusals] == [AuditAction.SSO_REFUSED] * 3
    reasons = [e.reason.lower() for e in refusals]
    assert "signature" in reasons[0] and "audience" in reasons[1]
    assert "expired" in reasons[2]


def test_it_offers_only_the_provider_when_passwords_are_off(
    page, live_server, provider, settings
):
    from playwright.sync_api import expect

    settings.ADMIN_PASSWORD_LOGIN = False
    page.goto(f"{live_server.url}/admin/login/")
    expect(page.locator("#sso-login-button")).to_have_text("Sign in with Test IdP")
    expect(page.locator("#id_password")).to_have_count(0)
    provider.sign_in_as("claire", ["hr-team"])
    page.click("#sso-login-button")
    expect(page.locator("#user-tools")).to_contain_text("claire")
