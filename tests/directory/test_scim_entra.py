"""What Microsoft Entra ID sends, from its documentation ("Tutorial: Develop
and plan provisioning for a SCIM endpoint", its request/response examples,
and the provisioning service's known behaviours): create, find by userName,
patch with capitalised ops and filtered paths, enterprise attributes by URN,
booleans as strings, deactivate, delete."""

from __future__ import annotations

from audit.models import AuditEntry
from directory.models import ScimUser
from employees.models import Employee
from tests.directory.scim_support import (  # noqa: F401 (fixture)
    CORE,
    ENTERPRISE,
    is_scim_error,
    scim,
)

# The create request of Microsoft's example (userName is not a mailbox).
CREATE = {
    "schemas": [CORE, ENTERPRISE],
    "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
    "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
    "active": True,
    "emails": [
        {
            "primary": True,
            "type": "work",
            "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com",
        }
    ],
    "meta": {"resourceType": "User"},
    "name": {
        "formatted": "givenName familyName",
        "familyName": "familyName",
        "givenName": "givenName",
    },
    "roles": [],
}


def test_the_validator_sequence(scim):  # noqa: F811
    # 1. Is the user there? Not yet: an empty list, not an error.
    missing = scim.get(
        'Users?filter=userName eq "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1"'
    )
    assert missing.status_code == 200
    assert missing.json()["totalResults"] == 0
    assert missing.json()["Resources"] == []

    # 2. Create.
    created = scim.post("Users", CREATE)
    assert created.status_code == 201, created.json()
    body = created.json()
    user_id = body["id"]
    assert body["userName"] == CREATE["userName"]
    assert body["externalId"] == CREATE["externalId"]
    assert body["active"] is True
    assert created["Location"].endswith(f"/scim/v2/Users/{user_id}")
    employee = Employee.objects.get(pk=user_id)
    assert employee.email == CREATE["emails"][0]["value"]
    assert (employee.first_name, employee.last_name) == ("givenName", "familyName")
    assert employee.hr_id == CREATE["externalId"]
    assert employee.source == "scim" and employee.synced_at is not None

    # 3. Found again by userName, whatever its case.
    found = scim.get(
        'Users?filter=userName eq "test_user_AB6490EE-1e48-479e-a20b-2d77186b5dd1"'
    )
    assert found.json()["totalResults"] == 1
    assert found.json()["Resources"][0]["id"] == user_id

    # 4. A second create of the same user: 409 uniqueness.
    assert is_scim_error(scim.post("Users", CREATE), 409, "uniqueness")

    # 5. Patch: capitalised op, a filtered path, a sub-attribute.
    patched = scim.patch(
        f"Users/{user_id}",
        {
            "op": "Replace",
            "path": 'emails[type eq "work"].value',
            "value": "updatedEmail@microsoft.com",
        },
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
    )
    assert patched.status_code == 200, patched.json()
    employee.refresh_from_db()
    assert employee.email == "updatedEmail@microsoft.com"
    assert employee.last_name == "updatedFamilyName"

    # 6. Single-valued: userName changes, the address (from emails) stays.
    scim.patch(
        f"Users/{user_id}",
        {"op": "Replace", "path": "userName", "value": "5b50642d@testuser.com"},
    )
    employee.refresh_from_db()
    assert ScimUser.objects.get(pk=user_id).user_name == "5b50642d@testuser.com"
    assert employee.email == "updatedEmail@microsoft.com"

    # 7. Disable, the boolean sent as a string.
    disabled = scim.patch(
        f"Users/{user_id}", {"op": "Replace", "path": "active", "value": "False"}
    )
    assert disabled.json()["active"] is False
    employee.refresh_from_db()
    assert employee.is_active is False and employee.deactivated_at is not None

    # 8. Delete: deactivated, kept, and the resource is gone.
    assert scim.delete(f"Users/{user_id}").status_code == 204
    assert is_scim_error(scim.get(f"Users/{user_id}"), 404)
    assert (
        scim.get('Users?filter=userName eq "5b50642d@testuser.com"').json()[
            "totalResults"
        ]
        == 0
    )
    assert Employee.objects.filter(pk=user_id, is_active=False).exists()
    actors = set(
        AuditEntry.objects.filter(target_id=user_id).values_list("username", flat=True)
    )
    assert actors == {"SCIM: Entra ID"}


def test_enterprise_attributes_by_urn(scim):  # noqa: F811
    boss = scim.post(
        "Users",
        {
            "userName": "boss@example.com",
            "emails": [{"value": "boss@example.com", "type": "work"}],
        },
    ).json()
    user = scim.post(
        "Users",
        {
            "userName": "ellen@example.com",
            "emails": [{"value": "ellen@example.com", "type": "work"}],
        },
    ).json()
    response = scim.patch(
        f"Users/{user['id']}",
        {
            "op": "Add",
            "path": f"{ENTERPRISE}:department",
            "value": "Human Resources US",
        },
        {"op": "Add", "path": f"{ENTERPRISE}:employeeNumber", "value": "100009"},
        {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": boss["id"]},
        {"op": "Add", "path": 'addresses[type eq "work"].country', "value": "DE"},
        {"op": "Add", "path": "preferredLanguage", "value": "de-DE"},
    )
    assert response.status_code == 200, response.json()
    extension = response.json()[ENTERPRISE]
    assert extension["department"] == "Human Resources US"
    assert extension["employeeNumber"] == "100009"
    assert extension["manager"]["value"] == boss["id"]
    employee = Employee.objects.get(pk=user["id"])
    assert (employee.department, employee.hr_id, employee.manager_id) == (
        "Human Resources US",
        "100009",
        int(boss["id"]),
    )
    assert employee.country == "DE"
    assert employee.language == "de"
    # Manager removed the way Entra does it.
    scim.patch(f"Users/{user['id']}", {"op": "Remove", "path": f"{ENTERPRISE}:manager"})
    employee.refresh_from_db()
    assert employee.manager_id is None


def test_a_manager_given_as_an_object_in_a_list(scim):  # noqa: F811
    boss = scim.post("Users", {"userName": "b@example.com"}).json()
    user = scim.post("Users", {"userName": "u@example.com"}).json()
    scim.patch(
        f"Users/{user['id']}",
        {
            "op": "Replace",
            "path": f"{ENTERPRISE}:manager",
            "value": [{"value": boss["id"]}],
        },
    )
    assert Employee.objects.get(pk=user["id"]).manager_id == int(boss["id"])


def test_a_secondary_address_does_not_replace_the_work_one(scim):  # noqa: F811
    user = scim.post("Users", {"userName": "w@example.com"}).json()
    scim.patch(
        f"Users/{user['id']}",
        {
            "op": "Add",
            "path": 'emails[type eq "home"].value',
            "value": "home@example.org",
        },
    )
    assert Employee.objects.get(pk=user["id"]).email == "w@example.com"
