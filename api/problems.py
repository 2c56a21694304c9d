"""Errors as ``application/problem+json`` (RFC 9457).

``{"type", "title", "status", "detail", "errors": [{"field", "message"}]}``:
each field in error is named (``"field": null`` for an error of the whole
request). drf-standardized-errors has its own format rather than RFC 9457's,
so the few lines below map DRF's errors instead.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler

CONTENT_TYPE = "application/problem+json"


class ProblemRenderer(JSONRenderer):
    media_type = CONTENT_TYPE


def _flatten(detail: object, field: str | None = None) -> list[dict]:
    if isinstance(detail, dict):
        found = []
        for key, value in detail.items():
            name = None if key in ("non_field_errors", "__all__") else str(key)
            if field and name:
                name = f"{field}.{name}"
            found += _flatten(value, name or field)
        return found
    if isinstance(detail, list):
        found = []
        for item in detail:
            found += _flatten(item, field)
        return found
    return [{"field": field, "message": str(detail)}]


def problem(status_code: int, title: str, detail: str = "", errors=None) -> Response:
    body = {"type": "about:blank", "title": title, "status": status_code}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    return Response(body, status=status_code, content_type=CONTENT_TYPE)


def handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict
            if hasattr(exc, "error_dict")
            else {"non_field_errors": exc.messages}
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        answer = problem(
            status.HTTP_400_BAD_REQUEST,
            _("Invalid input."),
            errors[0]["message"] if len(errors) == 1 else _("See errors."),
            errors,
        )
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else ""
        title = str(getattr(exc, "default_detail", ""))
        if "{" in title:  # 'Method "{method}" not allowed.': the filled-in one
            title = str(detail)
        answer = problem(response.status_code, title, str(detail))
    for name in ("WWW-Authenticate", "Retry-After", "Allow"):
        if name in response:
            answer[name] = response[name]
    return answer
