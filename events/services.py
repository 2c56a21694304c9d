"""Writes on webhook endpoints, shared by the admin and the API.

Every change is audit-logged with who made it (a user, or "api:<key name>").
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from events import signing
from events.catalogue import EVENT_TYPES
from events.delivering import AUDIT_WEBHOOK
from events.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from events.outbox import forget_subscriptions, nudge
from events.sending import UrlRefused, url_check


def events_clean(events: list[str]) -> list[str]:
    if not isinstance(events, list) or not events:
        raise ValidationError({"events": _("Choose at least one event type.")})
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        raise ValidationError(
            {
                "events": _("Unknown event types: %(types)s.")
                % {"types": ", ".join(map(str, unknown))}
            }
        )
    return sorted(set(events))


def url_clean(url: str) -> str:
    """Checked when saved (scheme, host, and a private address unless allowed);
    checked again at every send, when the name may resolve elsewhere."""
    from events.sending import resolve

    try:
        url_check(url)
        resolve(url)
    except UrlRefused as exc:
        raise ValidationError({"url": str(exc)}) from exc
    return url


def _audit(actor: object, endpoint: WebhookEndpoint, before: dict, after: dict) -> None:
    audit_record(
        actor=actor, action=AUDIT_WEBHOOK, target=endpoint, before=before, after=after
    )


def _state(endpoint: WebhookEndpoint) -> dict:
    return {"url": endpoint.url, "events": endpoint.events, "enabled": endpoint.enabled}


def endpoint_create(
    *, url: str, events: list[str], actor: object, description: str = ""
) -> WebhookEndpoint:
    events = events_clean(events)
    url = url_clean(url)
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            url=url, events=events, description=description, secret=signing.secret_new()
        )
        _audit(actor, endpoint, {}, _state(endpoint))
    transaction.on_commit(forget_subscriptions)
    return endpoint


def endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    actor: object,
    url: str | None = None,
    events: list[str] | None = None,
    enabled: bool | None = None,
    description: str | None = None,
) -> WebhookEndpoint:
    before = _state(endpoint)
    if events is not None:
        endpoint.events = events_clean(events)
    if url is not None and url != endpoint.url:
        endpoint.url = url_clean(url)
    if description is not None:
        endpoint.description = description
    if enabled is not None and enabled != endpoint.enabled:
        endpoint.enabled = enabled
        if enabled:
            endpoint.disabled_at, endpoint.disabled_reason = None, ""
            endpoint.failing_since = None
        else:
            # disabled_at: only when the worker turns it off (the admin warns).
            endpoint.disabled_at = None
            endpoint.disabled_reason = _("Turned off by %(who)s.") % {
                "who": _actor_name(actor)
            }
    with transaction.atomic():
        endpoint.save()
        after = _state(endpoint)
        if after != before:
            _audit(actor, endpoint, before, after)
    transaction.on_commit(forget_subscriptions)
    return endpoint


def _actor_name(actor: object) -> str:
    if isinstance(actor, str):
        return actor
    name = getattr(actor, "get_username", None)
    return name() if name else "system"


def endpoint_rotate(*, endpoint: WebhookEndpoint, actor: object) -> str:
    """A new secret; the old one still signs for WEBHOOK_SECRET_GRACE seconds."""
    now = timezone.now()
    with transaction.atomic():
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_until = now + timedelta(
            seconds=settings.WEBHOOK_SECRET_GRACE
        )
        endpoint.secret = signing.secret_new()
        endpoint.save(
            update_fields=["secret", "previous_secret", "previous_secret_until"]
        )
        audit_record(
            actor=actor,
            action=AUDIT_WEBHOOK,
            target=endpoint,
            after={
                "secret": "rotated",
                "previous_valid_until": endpoint.previous_secret_until,
            },
        )
    return endpoint.secret


def deliveries_resend(*, ids: list[int], actor: object) -> int:
    """ "Send again": the deliveries go back to pending, due now, same webhook-id."""
    now = timezone.now()
    with transaction.atomic():
        changed = (
            WebhookDelivery.objects.filter(id__in=ids)
            .exclude(status=DeliveryStatus.SENDING)
            .update(status=DeliveryStatus.PENDING, next_attempt_at=now, attempts=0)
        )
        if changed:
            audit_record(
                actor=actor,
                action=AUDIT_WEBHOOK,
                after={"resent": sorted(ids)[:100], "count": changed},
            )
        transaction.on_commit(nudge)
    return changed
