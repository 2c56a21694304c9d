"""Bearer tokens: made by the command (shown once), hashed, named,
revocable in the admin, the failed attempts limited; no session or CSRF
token needed on /scim/v2/."""

from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from directory.models import ScimToken
from employees.models import Employee
from tests.directory.scim_support import Scim, is_scim_error, scim, user  # noqa: F401
from tests.factories import UserFactory


def test_the_command_prints_the_token_once_and_keeps_its_hash(db):
    out = StringIO()
    call_command("scim_token", "Okta", stdout=out)
    token = out.getvalue().strip().splitlines()[-1]
    row = ScimToken.objects.get(name="Okta")
    assert row.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(ScimToken.objects.values_list())
    created = Scim(token).post("Users", user("cmd@example.com"))
    assert created.status_code == 201
    row.refresh_from_db()
    assert row.last_used_at is not None
    with pytest.raises(CommandError):
        call_command("scim_token", "Okta", stdout=StringIO())


@pytest.mark.parametrize(
    "header", [None, "Bearer wrong", "Basic dXNlcjpwYXNz", "Bearer "]
)
def test_it_refuses_a_missing_or_wrong_token(scim, header):  # noqa: F811
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    client = Client()
    response = client.get("/scim/v2/Users", **extra)
    assert is_scim_error(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_no_longer_works(scim):  # noqa: F811
    assert scim.get("Users").status_code == 200
    ScimToken.objects.update(revoked_at="2026-01-01T00:00:00Z")
    assert is_scim_error(scim.get("Users"), 401)


def test_failed_attempts_are_limited(scim, settings):  # noqa: F811
    settings.SCIM_AUTH_FAILURES_MAX = 3
    wrong = Scim("scim_guess")
    for _ in range(3):
        assert is_scim_error(wrong.get("Users"), 401)
    assert is_scim_error(wrong.get("Users"), 429)
    # A guesser at the same address does not lock the real client out.
    assert scim.get("Users").status_code == 200


def test_a_post_needs_no_csrf_token_or_session(scim):  # noqa: F811
    # scim's client enforces CSRF checks, like a browser-less client would meet.
    response = scim.post("Users", user("csrf@example.com"))
    assert response.status_code == 201
    assert "sessionid" not in response.cookies and "csrftoken" not in response.cookies


def test_the_admin_lists_and_revokes_tokens(scim, dpo):  # noqa: F811
    client = Client()
    client.force_login(dpo)
    changelist = reverse("admin:directory_scimtoken_changelist")
    assert "Entra ID" in client.get(changelist).content.decode()
    token = ScimToken.objects.get()
    response = client.post(
        changelist, {"action": "revoke_selected", "_selected_action": [token.pk]}
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    entry = AuditEntry.objects.get(reason="SCIM token revoked")
    assert entry.username == dpo.get_username()
    assert is_scim_error(scim.get("Users"), 401)


def test_revoking_needs_the_permission(scim, db):  # noqa: F811
    viewer = UserFactory(username="looker", permissions=["directory.view_scimtoken"])
    client = Client()
    client.force_login(viewer)
    token = ScimToken.objects.get()
    client.post(
        reverse("admin:directory_scimtoken_changelist"),
        {"action": "revoke_selected", "_selected_action": [token.pk]},
    )
    token.refresh_from_db()
    assert token.revoked_at is None
    assert not Employee.objects.exists()
