"""The schema and the documentation page, served without a key or a CDN."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_the_schema_is_openapi_3_with_bearer_auth(client):
    schema = client.get("/api/schema/?format=json").json()
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/campaigns/{id}/launch/" in schema["paths"]
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_the_docs_page_loads_swagger_from_this_server(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "swagger-ui" in html
    assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html


def test_an_unknown_api_path_is_a_problem_not_a_page(client):
    answer = client.post("/api/v1/nothing-here/")
    assert answer.status_code == 404
    assert answer["Content-Type"] == "application/problem+json"
    assert "/api/docs/" in answer.json()["detail"]  # where the paths are
