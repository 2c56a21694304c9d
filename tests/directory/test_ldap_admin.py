"""Staff imports in the admin tell a directory sync from a staff file."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from employees.models import ImportRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(hr_admin) -> Client:
    client = Client(headers={"accept-language": "en"})
    client.force_login(hr_admin)
    return client


def _run(source: str, **fields) -> ImportRun:
    return ImportRun.objects.create(
        source=source,
        file_name=fields.pop("file_name", "staff.csv"),
        status="done",
        **fields,
    )


def test_the_list_of_imports_shows_where_each_list_came_from(client):
    _run(ImportRun.Source.ADMIN, file_name="upload.csv")
    _run(ImportRun.Source.SHELL, file_name="nightly.csv")
    _run(
        ImportRun.Source.LDAP, file_name="ldaps://dc1.corp.example ou=staff", created=12
    )

    page = client.get(reverse("admin:employees_importrun_changelist")).content.decode()

    assert "Staff file (admin)" in page
    assert "Staff file (command line)" in page
    assert "LDAP directory" in page and "ldaps://dc1.corp.example ou=staff" in page

    only_ldap = client.get(
        reverse("admin:employees_importrun_changelist"), {"source__exact": "ldap"}
    ).content.decode()
    assert "ldaps://dc1.corp.example" in only_ldap and "upload.csv" not in only_ldap


def test_a_sync_run_lists_its_issues_by_entry_and_attribute(client):
    run = _run(
        ImportRun.Source.LDAP,
        error_count=1,
        errors=[
            {
                "line": 7,
                "column": "mail",
                "message": "uid=bad,ou=people,dc=example,dc=org: “x” is not a valid email address.",
            }
        ],
    )

    page = client.get(
        reverse("admin:employees_importrun_change", args=[run.pk])
    ).content.decode()

    assert "<th>Entry</th><th>Attribute</th>" in page
    assert "uid=bad,ou=people,dc=example,dc=org" in page
    assert "LDAP directory" in page
