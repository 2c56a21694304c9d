"""The directory pull over TLS: StartTLS and ldaps://, the server's
certificate checked against DIRECTORY_LDAP_CA_FILE (tests/slapd.py makes a
self-signed one for 127.0.0.1)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from employees.models import Employee
from tests import slapd
from tests.services import require

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def tls_server():
    require(
        slapd.slapd_available(),
        "slapd is not installed (apt-get install slapd ldap-utils)",
    )
    people = "".join(
        slapd.ldif_entry(
            f"uid=t{n},{slapd.PEOPLE}",
            {
                "objectClass": "inetOrgPerson",
                "uid": f"t{n}",
                "cn": f"t{n}",
                "sn": "Tls",
                "mail": f"t{n}@example.org",
            },
        )
        for n in range(3)
    )
    server = slapd.Slapd(tls=True).load(slapd.base_ldif() + people).start()
    yield server
    server.stop()


@pytest.fixture
def directory(settings, tls_server):
    settings.DIRECTORY_LDAP_BIND_DN = slapd.SERVICE_DN
    settings.DIRECTORY_LDAP_BIND_PASSWORD = slapd.SERVICE_PASSWORD
    settings.DIRECTORY_LDAP_BASE_DN = slapd.PEOPLE
    settings.DIRECTORY_LDAP_CA_FILE = tls_server.ca_file
    settings.DIRECTORY_LDAP_TIMEOUT = 5.0
    return settings


def _sync() -> tuple[int, dict]:
    out = StringIO()
    try:
        call_command("sync_directory", "--json", stdout=out, stderr=StringIO())
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return code, json.loads(out.getvalue())


def test_starttls_with_the_company_ca(directory, tls_server):
    directory.DIRECTORY_LDAP_URL = tls_server.url
    directory.DIRECTORY_LDAP_START_TLS = True

    code, report = _sync()

    assert code == 0 and report["created"] == 3


def test_ldaps_with_the_company_ca(directory, tls_server):
    directory.DIRECTORY_LDAP_URL = tls_server.ldaps_url

    code, report = _sync()

    assert code == 0 and report["created"] == 3


def test_a_certificate_nobody_vouches_for_is_refused_and_nobody_deactivated(
    directory, tls_server
):
    Employee.objects.create(email="stays@example.org")
    directory.DIRECTORY_LDAP_URL = tls_server.ldaps_url
    directory.DIRECTORY_LDAP_CA_FILE = ""  # the system's CAs: not this one

    code, report = _sync()

    assert code == 2
    assert "certificate" in report["error"].lower()
    assert Employee.objects.get().is_active
