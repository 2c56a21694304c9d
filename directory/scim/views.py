"""/scim/v2/ endpoints: thin views. Each authenticates the bearer token,
parses the request and calls a service; whatever goes wrong is answered in
the SCIM error format (``scim_endpoint``), never Django's HTML pages."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import wraps

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from directory.models import ScimToken
from directory.scim import auth, filtering, resources, services
from directory.scim.errors import ScimError, error_response, json_response, not_found

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponse]


def scim_endpoint(*methods: str) -> Callable[[View], View]:
    """Authentication, allowed methods and the SCIM error format, around a
    view taking (request, token, base URL, **kwargs). Exempt from CSRF: a
    bearer token in a header is not sent by a browser on its own."""

    def wrap(view: View) -> View:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, **kwargs: str) -> HttpResponse:
            try:
                token = auth.authenticate(request)
                if request.method not in methods:
                    raise ScimError(405, f"{request.method} is not allowed here.")
                base = request.build_absolute_uri(reverse("scim:root"))
                return view(request, token, base, **kwargs)
            except ScimError as error:
                return error_response(error)
            except Exception:
                logger.exception("SCIM %s %s failed", request.method, request.path)
                return error_response(ScimError(500, "Internal error."))

        return wrapper

    return wrap


def _body(request: HttpRequest) -> dict:
    try:
        raw = request.body
    except RequestDataTooBig:
        raise ScimError(413, "The body is too large.") from None
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ScimError(400, "The body is not valid JSON.", "invalidSyntax") from None
    if not isinstance(body, dict):
        raise ScimError(400, "The body must be a JSON object.", "invalidSyntax")
    return body


def _one(request: HttpRequest, base: str, employee, status: int = 200) -> HttpResponse:  # type: ignore[no-untyped-def]
    body = resources.trimmed(
        resources.user(employee, base),
        request.GET.get("attributes", ""),
        request.GET.get("excludedAttributes", ""),
    )
    response = json_response(body, status)
    response["Location"] = (
        body.get("meta", {}).get("location") or f"{base}Users/{employee.pk}"
    )
    return response


def _number(params: dict, name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or str(raw).strip() == "":
        return default
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise ScimError(
            400, f"{name} must be a whole number.", "invalidValue"
        ) from None


def _listing(params: dict, base: str) -> HttpResponse:
    """A page of users (RFC 7644 §3.4.2), from the query string or a
    /.search body: filter, startIndex (1-based), count."""
    queryset = services.visible().order_by("pk")
    raw_filter = params.get("filter") or ""
    if not isinstance(raw_filter, str):
        raise ScimError(400, "filter must be a string.", "invalidFilter")
    if raw_filter.strip():
        queryset = queryset.filter(filtering.condition(raw_filter))
    start = max(_number(params, "startIndex", 1), 1)
    count = min(max(_number(params, "count", 100), 0), resources.MAX_RESULTS)
    total = queryset.count()
    page = list(queryset[start - 1 : start - 1 + count]) if count else []
    attributes = _names(params.get("attributes"))
    excluded = _names(params.get("excludedAttributes"))
    found = [
        resources.trimmed(resources.user(e, base), attributes, excluded) for e in page
    ]
    return json_response(resources.list_response(found, total, start))


def _names(raw: object) -> str:
    """attributes / excludedAttributes: a comma list, or a JSON list (.search)."""
    if isinstance(raw, list):
        return ",".join(str(item) for item in raw)
    return raw if isinstance(raw, str) else ""


@scim_endpoint("GET", "POST")
def users(request: HttpRequest, token: ScimToken, base: str) -> HttpResponse:
    if request.method == "POST":
        actor = auth.actor_name(token)
        employee = services.user_create(body=_body(request), actor=actor)
        return _one(request, base, employee, 201)
    return _listing(request.GET.dict(), base)


@scim_endpoint("POST")
def search(request: HttpRequest, token: ScimToken, base: str) -> HttpResponse:
    """POST /Users/.search: a query in the body (RFC 7644 §3.4.3)."""
    return _listing(_body(request), base)


@scim_endpoint("GET", "PUT", "PATCH", "DELETE")
def user(request: HttpRequest, token: ScimToken, base: str, pk: str) -> HttpResponse:
    actor = auth.actor_name(token)
    if request.method == "GET":
        employee = services.user_get(pk)
    elif request.method == "PUT":
        employee = services.user_replace(pk=pk, body=_body(request), actor=actor)
    elif request.method == "PATCH":
        employee = services.user_patch(pk=pk, body=_body(request), actor=actor)
    else:
        services.user_delete(pk=pk, actor=actor)
        return HttpResponse(status=204)
    return _one(request, base, employee)


@scim_endpoint("GET", "POST")
def groups(request: HttpRequest, token: ScimToken, base: str) -> HttpResponse:
    """Groups are not provisioned (README): an empty list, 501 to writes."""
    if request.method == "POST":
        raise ScimError(501, "Groups are not supported; provision users only.")
    return json_response(resources.list_response([], 0, 1))


@scim_endpoint("GET", "PUT", "PATCH", "DELETE")
def group(request: HttpRequest, token: ScimToken, base: str, pk: str) -> HttpResponse:
    if request.method == "GET":
        raise not_found(f"Group {pk} not found.")
    raise ScimError(501, "Groups are not supported; provision users only.")


@scim_endpoint("GET")
def service_provider_config(
    request: HttpRequest, token: ScimToken, base: str
) -> HttpResponse:
    return json_response(resources.service_provider_config(base))


def _listed(items: list[dict], pk: str | None) -> HttpResponse:
    if pk is None:
        return json_response(resources.list_response(items, len(items), 1))
    for item in items:
        if item["id"] == pk:
            return json_response(item)
    raise not_found(f"{pk} not found.")


@scim_endpoint("GET")
def resource_types(
    request: HttpRequest, token: ScimToken, base: str, pk: str | None = None
) -> HttpResponse:
    return _listed(resources.resource_types(base), pk)


@scim_endpoint("GET")
def schemas(
    request: HttpRequest, token: ScimToken, base: str, pk: str | None = None
) -> HttpResponse:
    return _listed(resources.schemas(base), pk)


@csrf_exempt
def not_found_view(request: HttpRequest, **kwargs: str) -> HttpResponse:
    """Any other path under /scim/v2/: 404, in the SCIM format."""
    return error_response(not_found("No such SCIM endpoint."))
