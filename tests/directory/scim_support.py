"""What the SCIM tests share: a token, and a client that speaks SCIM JSON
with it (Django's test client, through the whole middleware stack)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from directory.scim.auth import token_create

BASE = "/scim/v2/"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


class Scim:
    def __init__(self, token: str) -> None:
        # enforce_csrf_checks: a bearer-token client sends no CSRF cookie.
        self.client = Client(enforce_csrf_checks=True)
        self.token = token

    def request(self, method: str, path: str, body: Any = None, **extra: Any):  # type: ignore[no-untyped-def]
        headers = {"HTTP_AUTHORIZATION": f"Bearer {self.token}", **extra}
        data = json.dumps(body) if body is not None else ""
        return self.client.generic(
            method,
            BASE + path,
            data,
            content_type="application/scim+json",
            **headers,
        )

    def get(self, path: str, **extra: Any):  # type: ignore[no-untyped-def]
        return self.request("GET", path, **extra)

    def post(self, path: str, body: Any):  # type: ignore[no-untyped-def]
        return self.request("POST", path, body)

    def put(self, path: str, body: Any):  # type: ignore[no-untyped-def]
        return self.request("PUT", path, body)

    def patch(self, path: str, *operations: dict):  # type: ignore[no-untyped-def]
        return self.request(
            "PATCH", path, {"schemas": [PATCH_OP], "Operations": list(operations)}
        )

    def delete(self, path: str):  # type: ignore[no-untyped-def]
        return self.request("DELETE", path)


@pytest.fixture
def scim(db) -> Scim:  # type: ignore[no-untyped-def]
    from django.core.cache import cache

    cache.clear()  # the failed-attempt counts
    _row, token = token_create(name="Entra ID")
    return Scim(token)


def user(email: str, **extra: Any) -> dict:
    body = {
        "schemas": [CORE, ENTERPRISE],
        "userName": email,
        "emails": [{"value": email, "type": "work", "primary": True}],
        "active": True,
    }
    body.update(extra)
    return body


def is_scim_error(response, status: int, scim_type: str | None = None) -> bool:  # type: ignore[no-untyped-def]
    body = response.json()
    assert response.status_code == status, body
    assert response["Content-Type"].startswith("application/scim+json")
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
    return True
