"""What Okta sends, from its SCIM 2.0 guide (Okta's "SCIM 2.0 protocol
reference" request examples, which its SCIM validator (Runscope) plays):
filter by userName with paging, create with a password and a locale, read,
replace with PUT, deactivate and reactivate by a PATCH without a path."""

from __future__ import annotations

from employees.models import Employee
from tests.directory.scim_support import CORE, PATCH_OP, is_scim_error, scim  # noqa: F401

CREATE = {
    "schemas": [CORE],
    "userName": "test.user@okta.local",
    "name": {"givenName": "Test", "familyName": "User"},
    "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
    "displayName": "Test User",
    "locale": "en-US",
    "externalId": "00ujl29u0le5T6Aj10h7",
    "groups": [],
    "password": "1mz050nq",
    "active": True,
}


def test_the_okta_sequence(scim):  # noqa: F811
    empty = scim.get(
        'Users?filter=userName eq "test.user@okta.local"&startIndex=1&count=100'
    )
    assert empty.status_code == 200
    assert empty.json()["totalResults"] == 0

    created = scim.post("Users", CREATE)
    assert created.status_code == 201, created.json()
    user = created.json()
    assert "password" not in user
    employee = Employee.objects.get(pk=user["id"])
    assert employee.language == "en"  # locale en-US
    assert employee.hr_id == "00ujl29u0le5T6Aj10h7"

    assert scim.get(f"Users/{user['id']}").json()["userName"] == "test.user@okta.local"

    replaced = dict(
        CREATE, id=user["id"], name={"givenName": "Another", "familyName": "User"}
    )
    replaced.pop("password")
    response = scim.put(f"Users/{user['id']}", replaced)
    assert response.status_code == 200, response.json()
    assert response.json()["name"]["givenName"] == "Another"

    off = scim.request(
        "PATCH",
        f"Users/{user['id']}",
        {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "value": {"active": False}}],
        },
    )
    assert off.status_code == 200 and off.json()["active"] is False
    employee.refresh_from_db()
    assert not employee.is_active and employee.deactivated_at is not None

    on = scim.request(
        "PATCH",
        f"Users/{user['id']}",
        {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "value": {"active": True}}],
        },
    )
    assert on.json()["active"] is True
    employee.refresh_from_db()
    assert employee.is_active and employee.deactivated_at is None

    listed = scim.get("Users?startIndex=1&count=100").json()
    assert listed["totalResults"] == 1 and listed["itemsPerPage"] == 1

    assert is_scim_error(scim.get("Users/010101"), 404)


def test_a_pathless_patch_with_several_attributes(scim):  # noqa: F811
    user = scim.post("Users", CREATE).json()
    scim.patch(
        f"Users/{user['id']}",
        {
            "op": "replace",
            "value": {
                "name.familyName": "Renamed",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Legal",
                "emails": [
                    {"value": "moved@okta.local", "type": "work", "primary": True}
                ],
            },
        },
    )
    employee = Employee.objects.get(pk=user["id"])
    assert (employee.last_name, employee.department, employee.email) == (
        "Renamed",
        "Legal",
        "moved@okta.local",
    )


def test_paging(scim):  # noqa: F811
    for n in range(5):
        scim.post("Users", {"userName": f"p{n}@example.com"})
    page = scim.get("Users?startIndex=2&count=2").json()
    assert page["totalResults"] == 5
    assert page["startIndex"] == 2
    assert [r["userName"] for r in page["Resources"]] == [
        "p1@example.com",
        "p2@example.com",
    ]
    assert scim.get("Users?count=0").json()["Resources"] == []
