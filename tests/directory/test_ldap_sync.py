"""manage.py sync_directory against a real OpenLDAP server (tests/slapd.py):
the same rules as the staff file import, a full list read page by page."""

from __future__ import annotations

import json
import re
from io import StringIO

import ldap3
import pytest
from django.core.management import call_command

from audit.models import AuditAction, AuditEntry
from directory.ldap.attributes import attribute_map
from employees.models import Employee, ImportRun
from tests import slapd
from tests.services import require

pytestmark = pytest.mark.django_db

PEOPLE = 250  # more than the server's size limit (100) and the page (50)
BROKEN = f"ou=broken,{slapd.SUFFIX}"
AD = f"ou=ad,{slapd.SUFFIX}"
AD_FILTER = (
    "(&(objectClass=inetOrgPerson)(mail=*)"
    "(!(userAccountControl:1.2.840.113556.1.4.803:=2)))"
)
NAMES = {
    1: ("Zoë", "Łukasiewicz"),
    2: ("Дмитрий", "Παπαδοπούλου"),
}
LANGUAGES = ["fr-FR", "de", "en-GB, fr;q=0.8", "xx"]


def _dn(number: int) -> str:
    return f"uid=p{number:03},{slapd.PEOPLE}"


def _person(number: int) -> str:
    first, last = NAMES.get(number, (f"Person{number}", "Example"))
    attributes = {
        "objectClass": "inetOrgPerson",
        "uid": f"p{number:03}",
        "cn": f"{first} {last}",
        "givenName": first,
        "sn": last,
        "mail": f"p{number:03}@example.org",
        "employeeNumber": f"E{number:03}",
        "departmentNumber": f"Dept {number % 5}",
        "l": "Paris" if number % 2 else "Berlin",
        "preferredLanguage": LANGUAGES[number % 4],
    }
    if number:
        # p000 manages p001-p009, who each manage ten more; the DN as an
        # administrator may type it (spaces, capitals) for some of them.
        boss = 0 if number < 10 else number // 10 % 10 or 1
        attributes["manager"] = (
            _dn(boss) if number % 7 else _dn(boss).upper().replace(",", ", ")
        )
    return slapd.ldif_entry(_dn(number), attributes)


def _directory_ldif() -> str:
    entries = [slapd.base_ldif(), *(_person(n) for n in range(PEOPLE))]
    entries.append(
        slapd.ldif_entry(BROKEN, {"objectClass": "organizationalUnit", "ou": "broken"})
    )
    for uid, mail in (("fine", "fine@example.org"), ("bad", "not-an-address")):
        entries.append(
            slapd.ldif_entry(
                f"uid={uid},{BROKEN}",
                {
                    "objectClass": "inetOrgPerson",
                    "uid": uid,
                    "cn": uid,
                    "sn": uid,
                    "mail": mail,
                },
            )
        )
    entries.append(
        slapd.ldif_entry(AD, {"objectClass": "organizationalUnit", "ou": "ad"})
    )
    for uid, control in (("active", "512"), ("disabled", "514")):
        entries.append(
            slapd.ldif_entry(
                f"cn={uid},{AD}",
                {
                    "objectClass": ["inetOrgPerson", "extensibleObject"],
                    "cn": uid,
                    "sn": "Doe",
                    "givenName": uid.title(),
                    "mail": f"{uid}@corp.example",
                    "department": "Legal",
                    "employeeID": f"AD-{uid}",
                    "co": "Belgique",
                    "c": "BE",
                    "userAccountControl": control,
                    "description": "Europe/Brussels",
                },
            )
        )
    return "".join(entries)


@pytest.fixture(scope="session")
def ldap_server():
    require(
        slapd.slapd_available(),
        "slapd is not installed (apt-get install slapd ldap-utils)",
    )
    server = slapd.Slapd(size_limit=100).load(_directory_ldif()).start()
    yield server
    server.stop()


@pytest.fixture
def directory(settings, ldap_server):
    settings.DIRECTORY_LDAP_URL = ldap_server.url
    settings.DIRECTORY_LDAP_BIND_DN = slapd.SERVICE_DN
    settings.DIRECTORY_LDAP_BIND_PASSWORD = slapd.SERVICE_PASSWORD
    settings.DIRECTORY_LDAP_BASE_DN = slapd.PEOPLE
    settings.DIRECTORY_LDAP_PAGE_SIZE = 50
    settings.LANGUAGES = [("en", "English"), ("fr", "Français"), ("de", "Deutsch")]
    return settings


def _sync(*args: str) -> tuple[int, dict]:
    out, err = StringIO(), StringIO()
    try:
        call_command("sync_directory", "--json", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return code, json.loads(out.getvalue())


def test_the_server_caps_a_plain_search_so_the_sync_must_page(directory, ldap_server):
    connection = ldap3.Connection(
        ldap_server.url, slapd.SERVICE_DN, slapd.SERVICE_PASSWORD, auto_bind=True
    )
    connection.search(slapd.PEOPLE, "(objectClass=inetOrgPerson)", attributes=["mail"])
    assert connection.result["description"] == "sizeLimitExceeded"
    assert len(connection.entries) == 100

    code, report = _sync()

    assert code == 0, report
    assert report["created"] == PEOPLE
    assert Employee.objects.filter(is_active=True).count() == PEOPLE


def test_a_first_sync_creates_everyone_with_names_languages_and_managers(directory):
    code, report = _sync()

    assert code == 0
    assert (report["created"], report["updated"], report["deactivated"]) == (
        PEOPLE,
        0,
        0,
    )
    zoe = Employee.objects.get(email="p001@example.org")
    assert (zoe.first_name, zoe.last_name) == ("Zoë", "Łukasiewicz")
    assert (zoe.hr_id, zoe.department, zoe.country) == ("E001", "Dept 1", "Paris")
    assert Employee.objects.get(hr_id="E002").last_name == "Παπαδοπούλου"
    # fr-FR → fr; "en-GB, fr;q=0.8" → en; an unknown tag → the default, warned.
    assert Employee.objects.get(hr_id="E004").language == "fr"
    assert zoe.language == "de"
    assert Employee.objects.get(hr_id="E002").language == "en"
    unsupported = [w for w in report["warnings"] if "“xx”" in w["message"]]
    assert len(unsupported) == PEOPLE // 4
    assert unsupported[0]["column"] == "preferredLanguage"
    # The manager's DN, as written or typed differently, is their entry.
    assert zoe.manager.email == "p000@example.org"
    assert Employee.objects.get(hr_id="E014").manager.hr_id == "E001"
    assert Employee.objects.get(hr_id="E035").manager.hr_id == "E003"  # 35 % 7 == 0
    assert Employee.objects.get(hr_id="E000").manager is None
    # Where each person came from, and when; the run, its counts, the ledger.
    assert set(Employee.objects.values_list("source", flat=True)) == {"ldap"}
    assert not Employee.objects.filter(synced_at__isnull=True).exists()
    run = ImportRun.objects.get()
    assert (run.source, run.status, run.sync, run.created) == (
        "ldap",
        "done",
        True,
        PEOPLE,
    )
    entry = AuditEntry.objects.get(action=AuditAction.IMPORT)
    assert entry.after["source"] == "ldap" and entry.after["created"] == PEOPLE


def test_a_second_sync_updates_what_changed_and_deactivates_who_left(directory):
    _sync()
    Employee.objects.filter(hr_id="E010").update(department="Old", source="file")
    moved = Employee.objects.get(hr_id="E011")
    moved.email = "old-address@example.org"
    moved.save()
    Employee.objects.create(email="gone@example.org", first_name="Gone")
    before = Employee.objects.get(hr_id="E020").synced_at

    code, report = _sync()

    assert code == 0
    assert (report["created"], report["updated"], report["unchanged"]) == (
        0,
        2,
        PEOPLE - 2,
    )
    assert report["deactivated"] == 1
    assert not Employee.objects.get(email="gone@example.org").is_active
    assert Employee.objects.get(hr_id="E010").department == "Dept 0"
    # Matched by HR id: the address follows the directory.
    assert Employee.objects.get(hr_id="E011").email == "p011@example.org"
    assert Employee.objects.get(hr_id="E010").source == "ldap"
    assert Employee.objects.get(hr_id="E020").synced_at > before
    assert ImportRun.objects.filter(source="ldap", status="done").count() == 2

    code, report = _sync()
    assert (report["updated"], report["unchanged"], report["deactivated"]) == (
        0,
        PEOPLE,
        0,
    )


def test_a_dry_run_writes_nothing(directory):
    code, report = _sync("--dry-run")

    assert code == 0
    assert report["created"] == PEOPLE and report["dry_run"] is True
    assert not Employee.objects.exists()
    assert ImportRun.objects.get().status == "dry_run"


def test_a_refused_bind_exits_2_and_deactivates_nobody(directory):
    Employee.objects.create(email="stays@example.org")
    directory.DIRECTORY_LDAP_BIND_PASSWORD = "wrong"

    code, report = _sync()

    assert code == 2
    assert "bind" in report["error"] and slapd.SERVICE_DN in report["error"]
    assert Employee.objects.get().is_active
    run = ImportRun.objects.get()
    assert (run.status, run.source) == ("failed", "ldap")


def test_an_unreachable_server_exits_2_and_deactivates_nobody(directory):
    Employee.objects.create(email="stays@example.org")
    directory.DIRECTORY_LDAP_URL = f"ldap://127.0.0.1:{slapd._free_port()}"
    directory.DIRECTORY_LDAP_TIMEOUT = 2.0

    code, report = _sync()

    assert code == 2
    assert "Cannot reach" in report["error"]
    assert Employee.objects.get().is_active


def test_an_invalid_entry_is_reported_like_a_bad_row_of_a_file(directory):
    directory.DIRECTORY_LDAP_BASE_DN = BROKEN

    code, report = _sync()

    assert code == 1
    assert report["written"] is False and not Employee.objects.exists()
    [error] = report["errors"]
    assert error["column"] == "mail"
    assert error["message"].startswith(f"uid=bad,{BROKEN}: ")
    assert "“not-an-address” is not a valid email address." in error["message"]
    assert ImportRun.objects.get().status == "rejected"

    code, report = _sync("--skip-invalid")

    assert code == 1 and report["created"] == 1
    assert list(Employee.objects.values_list("email", flat=True)) == [
        "fine@example.org"
    ]


def test_without_json_it_speaks_of_entries_and_attributes(directory):
    directory.DIRECTORY_LDAP_BASE_DN = BROKEN
    out, err = StringIO(), StringIO()

    with pytest.raises(SystemExit) as exit_:
        call_command("sync_directory", stdout=out, stderr=err)

    assert exit_.value.code == 1
    assert re.match(r"entry \d+, attribute mail: uid=bad,", err.getvalue())
    assert out.getvalue().endswith(
        "Nothing written: fix the entries above or use --skip-invalid. Would "
        "create 0, update 0, leave 0 unchanged, deactivate 0. Invalid entries: 1 "
        "of 2.\n"
    )
    directory.DIRECTORY_LDAP_URL = f"ldap://127.0.0.1:{slapd._free_port()}"
    directory.DIRECTORY_LDAP_TIMEOUT = 2.0
    err = StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("sync_directory", stdout=StringIO(), stderr=err)
    assert exit_.value.code == 2
    assert err.getvalue().startswith("Cannot sync the directory: ")


def test_the_active_directory_filter_skips_disabled_accounts(directory):
    directory.DIRECTORY_LDAP_BASE_DN = AD
    directory.DIRECTORY_LDAP_FILTER = AD_FILTER
    # AD has no standard time zone attribute: one is named in the map.
    directory.DIRECTORY_LDAP_ATTRIBUTES = attribute_map("time_zone=description")

    code, report = _sync()

    assert code == 0 and report["created"] == 1
    person = Employee.objects.get()
    assert person.email == "active@corp.example"
    assert (person.department, person.hr_id, person.country) == (
        "Legal",
        "AD-active",
        "Belgique",
    )
    assert person.time_zone == "Europe/Brussels"


def test_a_mass_deactivation_waits_for_the_number_to_be_confirmed(directory):
    Employee.objects.bulk_create(
        Employee(email=f"other{n}@example.org") for n in range(40)
    )

    code, report = _sync()

    assert code == 2 and "--confirm-deactivate 40" in report["error"]
    assert Employee.objects.filter(is_active=True).count() == 40

    code, report = _sync("--confirm-deactivate", "40")

    assert code == 0 and report["deactivated"] == 40


def test_the_scheduled_task_runs_the_same_sync(directory):
    from directory.ldap.tasks import ldap_sync

    assert ldap_sync() == "done"
    assert ImportRun.objects.get().actor == "beat"
    assert Employee.objects.count() == PEOPLE


def test_the_attribute_map_setting_chooses_the_attributes(directory):
    Employee.objects.create(email="p001@example.org", country="Lyon")
    directory.DIRECTORY_LDAP_ATTRIBUTES = attribute_map("hr_id=uid;country=")

    code, _report = _sync()

    assert code == 0
    zoe = Employee.objects.get(email="p001@example.org")
    assert zoe.hr_id == "p001"
    assert zoe.country == "Lyon"  # no attribute: the field is left as it is


def test_a_search_the_server_cuts_short_writes_nothing(settings):
    require(
        slapd.slapd_available(),
        "slapd is not installed (apt-get install slapd ldap-utils)",
    )
    people = "".join(_person(n) for n in range(150))
    server = slapd.Slapd(size_limit=100, paged_total=100).load(
        slapd.base_ldif() + people
    )
    server.start()
    try:
        settings.DIRECTORY_LDAP_URL = server.url
        settings.DIRECTORY_LDAP_BIND_DN = slapd.SERVICE_DN
        settings.DIRECTORY_LDAP_BIND_PASSWORD = slapd.SERVICE_PASSWORD
        settings.DIRECTORY_LDAP_BASE_DN = slapd.PEOPLE
        settings.DIRECTORY_LDAP_PAGE_SIZE = 50
        Employee.objects.create(email="p149@example.org", department="Kept")
        Employee.objects.create(email="left@example.org")

        code, report = _sync()
    finally:
        server.stop()

    assert code == 2
    assert (
        "sizeLimitExceeded" in report["error"]
        and "after 100 entries" in report["error"]
    )
    assert Employee.objects.filter(is_active=True).count() == 2
    assert Employee.objects.get(email="p149@example.org").department == "Kept"
    assert ImportRun.objects.get().status == "failed"


def test_a_long_search_keeps_its_run_alive_with_its_progress(directory, monkeypatch):
    from directory.ldap import sync

    monkeypatch.setattr(sync, "PROGRESS_EVERY", 100)
    seen = []
    write = sync._progress_writer

    def spy(run_id):
        inner = write(run_id)

        def progress(done):
            inner(done)
            seen.append(ImportRun.objects.values_list("rows_done", flat=True).get())

        return progress

    monkeypatch.setattr(sync, "_progress_writer", spy)

    _sync()

    # Pages of 50: the run says 100, then 200 entries read, before the import.
    assert seen == [0, 100, 100, 200, 200]


def test_a_second_sync_while_one_runs_does_nothing(directory):
    from datetime import timedelta

    from django.utils import timezone

    busy = ImportRun.objects.create(
        source="ldap", file_name="ldap://dc1", sync=True, status="importing"
    )

    code, report = _sync()

    assert code == 2 and f"run {busy.pk}" in report["error"]
    assert ImportRun.objects.count() == 1 and not Employee.objects.exists()

    # A run quiet for longer than a live one ever is died: not in the way.
    ImportRun.objects.filter(pk=busy.pk).update(
        updated_at=timezone.now() - timedelta(minutes=11)
    )
    code, report = _sync()
    assert code == 0 and report["created"] == PEOPLE
