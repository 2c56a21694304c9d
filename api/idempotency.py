"""``Idempotency-Key`` on the POSTs that create or launch.

The same key with the same request within IDEMPOTENCY_HOURS (24) answers
what the first did, and nothing is done twice: the first answer is stored
in the transaction of the action itself, and a concurrent twin waits on the
unique (key, Idempotency-Key) row, then fails and is answered 409. The same
key with another request: 422. Errors raised before an answer (nothing
done) store nothing, so a retry runs again.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import timedelta

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.response import Response

from api.models import IdempotentAnswer
from api.problems import problem

HEADER = "Idempotency-Key"
HOURS = 24


def _fingerprint(request) -> str:  # type: ignore[no-untyped-def]
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    data = request.data
    items = data.lists() if hasattr(data, "lists") else sorted(data.items())
    for name, value in sorted(items, key=lambda item: str(item[0])):
        digest.update(f"{name}=".encode())
        values = value if isinstance(value, list) else [value]
        for one in values:
            if isinstance(one, UploadedFile):
                for chunk in one.chunks():
                    digest.update(chunk)
                one.seek(0)
            else:
                digest.update(repr(one).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def idempotent(action):  # type: ignore[no-untyped-def]
    @functools.wraps(action)
    def wrapper(view, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        key = request.headers.get(HEADER)
        if not key:
            return action(view, request, *args, **kwargs)
        if len(key) > 255:
            return problem(400, _("Invalid input."), _("Idempotency-Key is too long."))
        fingerprint = _fingerprint(request)
        cutoff = timezone.now() - timedelta(hours=HOURS)
        stored = IdempotentAnswer.objects.filter(api_key=request.auth, key=key)
        stored.filter(created_at__lt=cutoff).delete()
        first = stored.first()
        if first is not None:
            if first.request_sha256 != fingerprint:
                return problem(
                    422,
                    _("Idempotency-Key reused"),
                    _("This Idempotency-Key was sent with another request."),
                )
            replay = Response(first.body, status=first.status)
            replay["Idempotent-Replayed"] = "true"
            return replay
        try:
            with transaction.atomic():
                response = action(view, request, *args, **kwargs)
                if response.status_code < 500:
                    IdempotentAnswer.objects.create(
                        api_key=request.auth,
                        key=key,
                        request_sha256=fingerprint,
                        status=response.status_code,
                        body=response.data,
                    )
        except IntegrityError:
            return problem(
                409,
                _("Request in progress"),
                _("A request with this Idempotency-Key is being answered."),
            )
        return response

    return wrapper
