"""The SCIM error format (RFC 7644 §3.12): every answer of /scim/v2/ that is
not a success, whatever went wrong, is this JSON, never an HTML page."""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpResponse

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
CONTENT_TYPE = "application/scim+json"


class ScimError(Exception):
    """An error answered to the client: ``status`` and optional ``scim_type``
    (invalidFilter, invalidSyntax, invalidValue, uniqueness, noTarget,
    mutability, invalidPath...)."""

    def __init__(self, status: int, detail: str, scim_type: str = "") -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type


def invalid_value(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidValue")


def not_found(detail: str = "Resource not found.") -> ScimError:
    return ScimError(404, detail)


def json_response(body: dict, status: int = 200) -> HttpResponse:
    return HttpResponse(
        json.dumps(body, ensure_ascii=False), status=status, content_type=CONTENT_TYPE
    )


def error_response(error: ScimError) -> HttpResponse:
    body: dict = {
        "schemas": [ERROR_SCHEMA],
        "status": str(error.status),
        "detail": error.detail,
    }
    if error.scim_type:
        body["scimType"] = error.scim_type
    response = json_response(body, error.status)
    if error.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="scim"'
    if error.status == 429:
        response["Retry-After"] = str(settings.SCIM_AUTH_FAILURES_WINDOW)
    return response
