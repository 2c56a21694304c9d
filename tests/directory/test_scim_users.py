"""The staff list's rules through SCIM: matching, a usable address, the
configured languages, address changes reaching the campaigns, the audit
log, and errors that are always SCIM JSON."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry
from employees.models import Employee
from tests.directory.scim_support import ENTERPRISE, is_scim_error, scim, user  # noqa: F401


def test_a_staff_file_employee_is_found_and_taken_over(scim):  # noqa: F811
    known = Employee.objects.create(
        email="Ann@Example.com", hr_id="E1", first_name="Ann"
    )
    listed = scim.get('Users?filter=userName eq "ann@example.com"').json()
    assert [r["id"] for r in listed["Resources"]] == [str(known.pk)]
    assert listed["Resources"][0]["externalId"] == "E1"
    scim.patch(
        f"Users/{known.pk}",
        {"op": "replace", "path": "name.familyName", "value": "Lee"},
    )
    known.refresh_from_db()
    assert (known.last_name, known.source) == ("Lee", "scim")


def test_it_refuses_a_user_without_an_address(scim):  # noqa: F811
    response = scim.post("Users", {"userName": "not-an-address"})
    assert is_scim_error(response, 400, "invalidValue")
    assert not Employee.objects.exists()


def test_the_user_name_gives_the_address_when_no_email_is_sent(scim):  # noqa: F811
    created = scim.post("Users", {"userName": "solo@example.com"}).json()
    assert Employee.objects.get(pk=created["id"]).email == "solo@example.com"


def test_an_unsupported_language_falls_back_with_a_warning(scim, settings):  # noqa: F811
    settings.LANGUAGES = [("fr", "Français"), ("en", "English")]
    settings.LANGUAGE_CODE = "fr"
    created = scim.post(
        "Users", user("x@example.com", preferredLanguage="xx-YY")
    ).json()
    assert Employee.objects.get(pk=created["id"]).language == "fr"
    entry = AuditEntry.objects.get(target_id=created["id"])
    assert "xx-YY" in " ".join(entry.after["warnings"])


def test_a_time_zone_is_kept_and_an_unknown_one_dropped(scim):  # noqa: F811
    good = scim.post("Users", user("tz@example.com", timezone="Europe/Warsaw")).json()
    bad = scim.post("Users", user("tz2@example.com", timezone="Mars/Olympus")).json()
    # Any case, as the staff file's column and the admin's form read it.
    lower = scim.post("Users", user("tz3@example.com", timezone="europe/lisbon")).json()
    assert Employee.objects.get(pk=good["id"]).time_zone == "Europe/Warsaw"
    assert Employee.objects.get(pk=bad["id"]).time_zone == ""
    assert Employee.objects.get(pk=lower["id"]).time_zone == "Europe/Lisbon"


def test_the_country_attribute_is_configurable(scim, settings):  # noqa: F811
    settings.SCIM_COUNTRY_ATTRIBUTE = f"{ENTERPRISE}:division"
    created = scim.post(
        "Users", user("c@example.com", **{ENTERPRISE: {"division": "Lisbon"}})
    ).json()
    assert Employee.objects.get(pk=created["id"]).country == "Lisbon"
    scim.patch(
        f"Users/{created['id']}",
        {"op": "Replace", "path": f"{ENTERPRISE}:division", "value": "Porto"},
    )
    assert Employee.objects.get(pk=created["id"]).country == "Porto"


def test_an_address_change_clears_a_bounce(scim):  # noqa: F811
    employee = Employee.objects.create(email="old@example.com", email_status="bounced")
    scim.patch(
        f"Users/{employee.pk}",
        {
            "op": "replace",
            "path": "emails",
            "value": [{"value": "new@example.com", "type": "work"}],
        },
    )
    employee.refresh_from_db()
    assert (employee.email, employee.email_status) == ("new@example.com", "ok")


def test_an_address_taken_by_someone_else_is_a_conflict(scim):  # noqa: F811
    Employee.objects.create(email="taken@example.com")
    mine = scim.post("Users", user("mine@example.com")).json()
    response = scim.patch(
        f"Users/{mine['id']}",
        {
            "op": "replace",
            "path": 'emails[type eq "work"].value',
            "value": "TAKEN@example.com",
        },
    )
    assert is_scim_error(response, 409, "uniqueness")
    assert Employee.objects.get(pk=mine["id"]).email == "mine@example.com"


def test_a_deleted_user_created_again_is_the_same_employee(scim):  # noqa: F811
    first = scim.post("Users", user("back@example.com")).json()
    scim.delete(f"Users/{first['id']}")
    again = scim.post("Users", user("back@example.com"))
    assert again.status_code == 201
    assert again.json()["id"] == first["id"]
    assert Employee.objects.get(pk=first["id"]).is_active


def test_every_change_is_audited_with_its_source(scim):  # noqa: F811
    created = scim.post("Users", user("a@example.com")).json()
    scim.patch(
        f"Users/{created['id']}",
        {"op": "replace", "path": f"{ENTERPRISE}:department", "value": "Sales"},
    )
    entries = AuditEntry.objects.filter(target_id=created["id"]).order_by("seq")
    assert [e.reason for e in entries] == ["SCIM: created", "SCIM: patched"]
    assert entries[1].before == {"department": ""}
    assert entries[1].after["department"] == "Sales"
    assert {e.username for e in entries} == {"SCIM: Entra ID"}
    assert all(e.after["source"] == "scim" for e in entries)


def test_filters(scim):  # noqa: F811
    a = scim.post(
        "Users", user("a@example.com", externalId="A1", name={"givenName": "Zoe"})
    ).json()
    scim.post("Users", user("b@example.com", active=False))
    ids = lambda q: [r["id"] for r in scim.get(f"Users?filter={q}").json()["Resources"]]  # noqa: E731
    assert ids('externalId eq "A1"') == [a["id"]]
    assert ids('emails[type eq "work" and value co "a@"]') == [a["id"]]
    assert ids('emails[type eq "work"].value eq "A@example.com"') == [a["id"]]
    assert ids("active eq true") == [a["id"]]
    assert ids('name.givenName sw "zo" and not (active eq false)') == [a["id"]]
    assert ids('meta.lastModified gt "2000-01-01T00:00:00Z"') == sorted(
        ids("userName pr"), key=int
    )


@pytest.mark.parametrize(
    "query",
    ['title eq "CEO"', "userName eq", 'userName zz "a"', 'urn:example:Foo:bar eq "x"'],
)
def test_a_bad_filter_is_invalid_filter(scim, query):  # noqa: F811
    assert is_scim_error(scim.get(f"Users?filter={query}"), 400, "invalidFilter")


@pytest.mark.parametrize(
    ("body", "scim_type"),
    [
        (
            {"Operations": [{"op": "jump", "path": "active", "value": True}]},
            "invalidSyntax",
        ),
        ({"Operations": [{"op": "remove"}]}, "noTarget"),
        (
            {"Operations": [{"op": "replace", "path": "active", "value": "maybe"}]},
            "invalidValue",
        ),
        (
            {
                "Operations": [
                    {"op": "replace", "path": "emails[type eq work", "value": "x"}
                ]
            },
            "invalidPath",
        ),
        ({"Operations": "replace"}, "invalidSyntax"),
    ],
)
def test_a_bad_patch_changes_nothing(scim, body, scim_type):  # noqa: F811
    created = scim.post("Users", user("p@example.com")).json()
    assert is_scim_error(
        scim.request("PATCH", f"Users/{created['id']}", body), 400, scim_type
    )
    assert Employee.objects.get(pk=created["id"]).is_active


def test_bad_json_and_bad_values_are_scim_errors(scim):  # noqa: F811
    bad_json = scim.client.post(
        "/scim/v2/Users",
        "{nope",
        content_type="application/scim+json",
        HTTP_AUTHORIZATION=f"Bearer {scim.token}",
    )
    assert is_scim_error(bad_json, 400, "invalidSyntax")
    assert is_scim_error(
        scim.post("Users", user("l@example.com", name={"givenName": "x" * 200})),
        400,
        "invalidValue",
    )
    assert is_scim_error(
        scim.post("Users", user("n@example.com", name={"givenName": ["x"]})),
        400,
        "invalidValue",
    )
    assert is_scim_error(scim.get("Users?count=many"), 400, "invalidValue")
    assert is_scim_error(scim.put("Users/999", user("q@example.com")), 404)
    assert is_scim_error(scim.delete("Users/abc"), 404)
    assert is_scim_error(scim.request("DELETE", "Users"), 405)
    assert is_scim_error(scim.get("Users/1/extra"), 404)


def test_groups_are_an_empty_list_and_writes_501(scim):  # noqa: F811
    assert scim.get("Groups").json()["totalResults"] == 0
    assert is_scim_error(scim.post("Groups", {"displayName": "Sales"}), 501)


def test_the_employee_page_shows_the_source_and_the_last_sync(scim, dpo):  # noqa: F811
    from django.test import Client
    from django.urls import reverse

    created = scim.post("Users", user("seen@example.com")).json()
    client = Client(headers={"accept-language": "en"})
    client.force_login(dpo)
    page = client.get(reverse("admin:employees_employee_change", args=[created["id"]]))
    body = page.content.decode()
    assert "SCIM provisioning" in body
    assert "last synchronised" in body.lower()
    listed = client.get(reverse("admin:employees_employee_changelist") + "?source=scim")
    assert [e.pk for e in listed.context["cl"].result_list] == [int(created["id"])]


def test_staff_imports_count_each_day_of_provisioning(scim):  # noqa: F811
    from employees.models import ImportRun

    created = scim.post("Users", user("day@example.com")).json()
    scim.patch(
        f"Users/{created['id']}",
        {"op": "replace", "path": "name.givenName", "value": "Di"},
    )
    scim.patch(
        f"Users/{created['id']}",
        {"op": "replace", "path": "name.givenName", "value": "Di"},
    )
    scim.delete(f"Users/{created['id']}")
    run = ImportRun.objects.get(source="scim")
    assert run.actor == "SCIM: Entra ID"
    assert (run.created, run.updated, run.unchanged, run.deactivated) == (1, 1, 1, 1)
    assert run.rows_total == 4


def test_the_address_is_stored_as_the_import_stores_it(scim):  # noqa: F811
    created = scim.post("Users", user("Jane.Doe@Example.COM")).json()
    assert Employee.objects.get(pk=created["id"]).email == "Jane.Doe@example.com"


def test_an_unexpected_failure_is_a_scim_error_not_a_page(scim, monkeypatch):  # noqa: F811
    from directory.scim import services

    def broken(pk: str) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "user_get", broken)
    response = scim.get("Users/1")
    assert is_scim_error(response, 500)
    assert "database went away" not in response.content.decode()


def test_forgetting_a_person_leaves_no_scim_name(scim):  # noqa: F811
    from directory.models import ScimUser
    from directory.scim.services import scim_user_forget

    created = scim.post("Users", user("gone@example.com", externalId="G-1")).json()
    scim_user_forget(employee_id=int(created["id"]))
    row = ScimUser.objects.get(pk=created["id"])
    assert "gone" not in row.user_name and row.external_id == ""
    assert is_scim_error(scim.get(f"Users/{created['id']}"), 404)


def test_an_erasure_forgets_what_the_provider_sent(scim):  # noqa: F811
    from console.gdpr import person_erase
    from directory.models import ScimUser
    from tests.factories import dpo_make

    created = scim.post(
        "Users", user("upn.erase@corp.example", externalId="EXT-42")
    ).json()
    employee = Employee.objects.get(pk=created["id"])
    from console.gdpr import person_data

    access = person_data(employee)["employee"]["scim"]
    assert access["user_name"] == "upn.erase@corp.example"
    assert access["external_id"] == "EXT-42"
    person_erase(employee=employee, actor=dpo_make(), reason="Art. 17 request")
    kept = ScimUser.objects.get(pk=employee.pk)
    assert "upn.erase" not in kept.user_name and kept.external_id == ""
    found = scim.get('Users?filter=userName eq "upn.erase@corp.example"').json()
    assert found["totalResults"] == 0
    assert scim.get(f"Users/{employee.pk}").status_code == 404
