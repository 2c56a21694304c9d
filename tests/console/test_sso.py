"""Sign-in through the identity provider, with the test client against a
real OpenID Connect provider running in the test (tests/oidc_provider.py):
the sign-in, the roles it sets and removes, and every refusal."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
import requests
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.management import call_command

from audit.models import AuditAction, AuditEntry
from console.models import SsoIdentity
from tests.factories import PASSWORD, UserFactory
from tests.oidc_provider import OidcProvider, sso_settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(settings, roles):
    cache.clear()  # the login failure counts of other tests
    with OidcProvider() as running:
        sso_settings(settings, running)
        yield running


def _start(client) -> str:
    """Our /sso/login/ → the provider's /authorize → the callback URL."""
    response = client.get("/sso/login/?next=/admin/")
    assert response.status_code == 302
    answer = requests.get(response["Location"], allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    return answer.headers["Location"]


def _sign_in(client):
    return client.get(_start(client))


def _roles(user: User) -> list[str]:
    return sorted(user.groups.values_list("name", flat=True))


def _actions() -> list[str]:
    return list(AuditEntry.objects.order_by("seq").values_list("action", flat=True))


def test_it_sends_a_pkce_s256_challenge_and_a_nonce(client, provider):
    response = client.get("/sso/login/")
    query = parse_qs(urlparse(response["Location"]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["nonce"][0] and query["state"][0] and query["code_challenge"][0]
    assert query["scope"] == ["openid email profile"]


def test_it_signs_in_and_sets_the_roles_of_the_mapped_groups(client, provider):
    provider.sign_in_as("u-1", ["dpo-team", "unrelated"], given_name="Claire")
    response = _sign_in(client)
    assert response.status_code == 302 and response["Location"] == "/admin/"
    user = SsoIdentity.objects.get(issuer=provider.issuer, sub="u-1").user
    assert _roles(user) == ["DPO"]
    assert user.is_staff and not user.is_superuser and not user.has_usable_password()
    assert client.get("/admin/").status_code == 200
    assert _actions() == [AuditAction.ROLE_CHANGE, AuditAction.SSO_LOGIN]


def test_it_asks_no_local_code_of_an_sso_session(client, provider, settings):
    settings.OTP_REQUIRED = True
    provider.sign_in_as("u-1", ["hr-team"])
    _sign_in(client)
    assert client.get("/admin/").status_code == 200


def test_it_adds_and_removes_roles_at_the_next_sign_in(client, provider):
    provider.sign_in_as("u-1", ["dpo-team"])
    _sign_in(client)
    provider.sign_in_as("u-1", ["auditors"])
    _sign_in(client)
    user = SsoIdentity.objects.get(sub="u-1").user
    assert _roles(user) == ["Viewer"]
    change = AuditEntry.objects.filter(action=AuditAction.ROLE_CHANGE).latest("seq")
    assert change.before == {"roles": ["DPO"]} and change.after == {"roles": ["Viewer"]}


def test_it_matches_by_sub_not_by_email(client, provider):
    local = UserFactory(username="claire", email="claire@example.com")
    provider.sign_in_as("u-9", ["hr-team"], email="claire@example.com")
    _sign_in(client)
    user = SsoIdentity.objects.get(sub="u-9").user
    assert user.pk != local.pk and user.email == "claire@example.com"


def test_it_refuses_a_person_with_no_mapped_group(client, provider):
    provider.sign_in_as("u-2", ["sales"])
    response = _sign_in(client)
    assert response.status_code == 403
    assert b"You have no role in this tool" in response.content
    assert not User.objects.exists() and "_auth_user_id" not in client.session
    assert _actions() == [AuditAction.SSO_REFUSED]


def test_it_takes_away_staff_access_when_the_groups_are_gone(client, provider):
    provider.sign_in_as("u-1", ["dpo-team"])
    _sign_in(client)
    client.logout()
    provider.sign_in_as("u-1", [])
    assert _sign_in(client).status_code == 403
    user = SsoIdentity.objects.get(sub="u-1").user
    assert _roles(user) == [] and not user.is_staff
    assert _actions()[-2:] == [AuditAction.ROLE_CHANGE, AuditAction.SSO_REFUSED]


@pytest.mark.parametrize(
    "forge",
    ["wrong_key", "wrong_aud", "expired", "wrong_issuer", "wrong_nonce", "alg_none"],
)
def test_it_refuses_a_forged_id_token(client, provider, forge):
    provider.forge = forge
    provider.sign_in_as("u-1", ["dpo-team"])
    response = _sign_in(client)
    assert response.status_code == 403
    assert b"could not be completed" in response.content
    assert not User.objects.exists() and "_auth_user_id" not in client.session
    entry = AuditEntry.objects.get()
    assert entry.action == AuditAction.SSO_REFUSED and entry.reason


def test_it_refuses_a_replayed_callback(client, provider):
    provider.sign_in_as("u-1", ["dpo-team"])
    callback = _start(client)
    assert client.get(callback).status_code == 302
    client.logout()
    assert client.get(callback).status_code == 403
    assert AuditEntry.objects.latest("seq").reason.startswith("state mismatch")


def test_it_refuses_a_code_used_twice(client, provider):
    provider.sign_in_as("u-1", ["dpo-team"])
    first = _start(client)
    client.get(first)
    client.logout()
    fresh = parse_qs(urlparse(_start(client)).query)
    code = parse_qs(urlparse(first).query)["code"][0]
    response = client.get(f"/sso/callback/?code={code}&state={fresh['state'][0]}")
    assert response.status_code == 403
    assert provider.token_refusals == ["code unknown or already used"]


def test_it_refuses_a_state_it_did_not_issue(client, provider):
    provider.sign_in_as("u-1", ["dpo-team"])
    callback = _start(client)
    code = parse_qs(urlparse(callback).query)["code"][0]
    assert client.get(f"/sso/callback/?code={code}&state=forged").status_code == 403
    assert not User.objects.exists()


def test_it_refuses_a_weaker_acr_than_required(client, provider, settings):
    settings.OIDC_REQUIRE_ACR = ["mfa"]
    provider.acr = "pwd"
    provider.sign_in_as("u-1", ["dpo-team"])
    assert _sign_in(client).status_code == 403
    provider.acr = "mfa"
    assert _sign_in(client).status_code == 302


def test_it_ends_the_provider_session_at_logout(client, provider):
    provider.sign_in_as("u-1", ["dpo-team"])
    _sign_in(client)
    response = client.post("/admin/logout/")
    assert response.status_code == 302
    assert response["Location"].startswith(f"{provider.issuer}/logout?")
    assert "id_token_hint" in response["Location"]
    assert "_auth_user_id" not in client.session


def test_it_shows_the_provider_button_on_the_login_page(client, provider):
    page = client.get("/admin/login/").content.decode()
    assert "Sign in with Test IdP" in page and 'name="password"' in page


def test_it_turns_the_password_login_off(client, provider, settings, dpo):
    settings.ADMIN_PASSWORD_LOGIN = False
    page = client.get("/admin/login/").content.decode()
    assert "Sign in with Test IdP" in page and 'name="password"' not in page
    response = client.post(
        "/admin/login/?next=/admin/", {"username": dpo.username, "password": PASSWORD}
    )
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert b"Password login is turned off" in response.content


def test_it_lets_a_break_glass_account_in_for_a_while(client, provider, settings, dpo):
    settings.ADMIN_PASSWORD_LOGIN = False
    call_command("break_glass", dpo.username, "--minutes", "5")
    response = client.post(
        "/admin/login/?next=/admin/", {"username": dpo.username, "password": PASSWORD}
    )
    assert response.status_code == 302
    assert _actions() == [AuditAction.BREAK_GLASS, AuditAction.BREAK_GLASS]


def test_it_changes_nothing_without_an_issuer(client, settings):
    settings.OIDC_ISSUER = ""
    assert client.get("/sso/login/").status_code == 404
    assert b"Sign in with" not in client.get("/admin/login/").content


def test_it_refuses_politely_when_the_provider_does_not_answer(client, provider):
    provider.server.shutdown()
    provider.server.server_close()
    response = client.get("/sso/login/")
    assert response.status_code == 403
    assert b"could not be completed" in response.content
    assert AuditEntry.objects.get().reason.startswith("discovery failed")


def test_it_grants_break_glass_to_known_accounts_for_at_most_four_hours(dpo):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("break_glass", "nobody")
    with pytest.raises(CommandError):
        call_command("break_glass", dpo.username, "--minutes", "241")
    assert not AuditEntry.objects.exists()
