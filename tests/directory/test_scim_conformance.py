"""The endpoint checked by scim2-tester, a SCIM 2.0 conformance checker
(discovery, create, query, search, replace, PATCH add/replace/remove,
delete), run in-process against the whole Django application."""

from __future__ import annotations

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from scim2_client.engines.wsgi import WSGISCIMClient
from scim2_tester import Status, check_server

from tests.directory.scim_support import scim  # noqa: F401 (fixture)

# What we knowingly answer differently from what was sent, because the
# staff list keeps its own form of it (README, "What each SCIM attribute
# maps to"): a language becomes one of the configured ones (an unknown one
# the default), an unknown time zone is dropped, the one address or e-mail
# an employee has is always the "work", primary one, and "active" cannot be
# removed (an employee is active or not).
KNOWN = {
    ("check_add_attribute", "preferredLanguage"),
    ("check_replace_attribute", "preferredLanguage"),
    ("check_remove_attribute", "preferredLanguage"),
    ("check_add_attribute", "timezone"),
    ("check_replace_attribute", "timezone"),
    ("check_add_attribute", "addresses"),
    ("check_replace_attribute", "addresses"),
    ("check_replace_attribute", "emails"),
    ("check_remove_attribute", "active"),
}


def _attribute(reason: str) -> str:
    return reason.split("'")[1] if "'" in reason else ""


@pytest.fixture
def connection_kept():
    """The real WSGI handler closes the database connection around each
    request; the test's transaction lives on it (as Django's test client
    does, the closing is switched off)."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.mark.django_db
def test_it_passes_the_conformance_checker(scim, connection_kept):  # noqa: F811
    client = WSGISCIMClient(
        WSGIHandler(),
        base_url="http://testserver/scim/v2",
        headers={"Authorization": f"Bearer {scim.token}"},
    )
    results = check_server(client)
    passed = [r for r in results if r.status == Status.SUCCESS]
    failed = {
        (r.title, _attribute(r.reason or "")): r.reason
        for r in results
        if r.status not in (Status.SUCCESS, Status.SKIPPED)
    }
    unexpected = {key: reason for key, reason in failed.items() if key not in KNOWN}
    assert not unexpected
    titles = {r.title for r in passed}
    for check in (
        "object_creation",
        "object_query",
        "object_replacement",
        "object_deletion",
        "search_with_attributes",
        "check_remove_attribute",
        "access_invalid_schema",
        "random_url",
    ):
        assert check in titles, check
