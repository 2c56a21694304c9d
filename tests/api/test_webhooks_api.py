"""/api/v1/webhooks/: DPO keys manage endpoints; the secret is shown once."""

from __future__ import annotations

import pytest

from events.models import WebhookEndpoint
from tests.api.helpers import client_for

pytestmark = pytest.mark.django_db

HOOK = {"url": "http://127.0.0.1:9/hooks", "events": ["recipient.acknowledged"]}


@pytest.fixture(autouse=True)
def _local_receivers(roles, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True  # as for an on-premise receiver


def test_it_creates_an_endpoint_and_shows_its_secret_once():
    dpo = client_for("DPO")
    created = dpo.post("/api/v1/webhooks/", HOOK, format="json")
    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert body["enabled"] is True and body["events"] == HOOK["events"]
    shown = dpo.get(f"/api/v1/webhooks/{body['id']}/").json()
    assert "secret" not in shown and shown["enabled"] is True


def test_patch_changes_events_and_turns_it_off():
    dpo = client_for("DPO")
    pk = dpo.post("/api/v1/webhooks/", HOOK, format="json").json()["id"]
    answer = dpo.patch(
        f"/api/v1/webhooks/{pk}/",
        {"events": ["campaign.launched", "step.sent"], "enabled": False},
        format="json",
    )
    assert answer.status_code == 200
    endpoint = WebhookEndpoint.objects.get(pk=pk)
    assert endpoint.events == ["campaign.launched", "step.sent"]
    assert not endpoint.enabled


def test_a_private_url_or_an_unknown_event_is_400(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    dpo = client_for("DPO")
    private = dpo.post(
        "/api/v1/webhooks/",
        {**HOOK, "url": "http://127.0.0.1:8080/x"},
        format="json",
    )
    assert private.status_code == 400
    assert private.json()["errors"][0]["field"] == "url"
    unknown = dpo.post("/api/v1/webhooks/", {**HOOK, "events": ["nope"]}, format="json")
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["field"].startswith("events")
    assert WebhookEndpoint.objects.count() == 0


def test_rotation_answers_a_new_secret():
    dpo = client_for("DPO")
    body = dpo.post("/api/v1/webhooks/", HOOK, format="json").json()
    rotated = dpo.post(f"/api/v1/webhooks/{body['id']}/rotate/").json()
    assert rotated["secret"] != body["secret"]
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert endpoint.previous_secret == body["secret"]
