"""The API against its own OpenAPI schema, with schemathesis.

Bounded: a few derandomised examples per operation, so the run stays short
and repeatable. Every answer must be documented (status code, content type,
body schema) and none may be a server error. The requests go through the
WSGI application, as a server would send them.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.helpers import client_for

CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
)

schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(public=True))
schema.app = get_wsgi_application()


@pytest.fixture
def bearer(db, roles, settings):
    settings.API_THROTTLE_RATE = "100000/min"
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    client = client_for("DPO", name="schemathesis")
    # As Django's test client does: a request must not close the test's
    # connection (its transaction holds the test's data).
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield {"Authorization": client._credentials["HTTP_AUTHORIZATION"]}
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=3,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_to_its_schema(case, bearer):
    response = case.call(headers=bearer)
    case.validate_response(response, checks=CHECKS)
