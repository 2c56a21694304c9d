"""API keys per role and a client that sends them."""

from __future__ import annotations

from rest_framework.test import APIClient

from api.keys import key_create


def client_for(role: str, name: str | None = None) -> APIClient:
    _key, clear = key_create(name=name or f"{role}-key", role=role, actor="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {clear}")
    return client
