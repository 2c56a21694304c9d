"""What /scim/v2/ answers: a User resource from an employee, list responses,
and the discovery documents (ServiceProviderConfig, ResourceTypes, Schemas)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from directory.models import ScimUser
from employees.models import Employee

CORE_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
MAX_RESULTS = 1000


def _stamp(value: Any) -> str:
    return value.isoformat().replace("+00:00", "Z") if value else ""


def user(employee: Employee, base: str) -> dict:
    """The SCIM User of an employee (its ScimUser, if any, already fetched)."""
    scim: ScimUser | None = getattr(employee, "scim", None)
    user_name = scim.user_name if scim else employee.email
    # A staff-file employee's externalId is their HR id until a client sets one.
    external_id = scim.external_id if scim else employee.hr_id
    location = f"{base}Users/{employee.pk}"
    body: dict[str, Any] = {
        "schemas": [CORE_URN],
        "id": str(employee.pk),
        "userName": user_name,
        "displayName": employee.full_name or employee.email,
        "emails": [{"value": employee.email, "type": "work", "primary": True}],
        "active": employee.is_active,
        "preferredLanguage": employee.language,
    }
    # An attribute without a value is left out (RFC 7643 §2.5: unassigned).
    name = {"givenName": employee.first_name, "familyName": employee.last_name}
    name = {key: value for key, value in name.items() if value}
    if name:
        body["name"] = name
    if external_id:
        body["externalId"] = external_id
    if employee.time_zone:
        body["timezone"] = employee.time_zone
    if employee.country:
        body["addresses"] = [
            {"type": "work", "primary": True, "country": employee.country}
        ]
    enterprise: dict[str, Any] = {}
    if employee.hr_id:
        enterprise["employeeNumber"] = employee.hr_id
    if employee.department:
        enterprise["department"] = employee.department
    if employee.manager_id:
        enterprise["manager"] = {
            "value": str(employee.manager_id),
            "$ref": f"{base}Users/{employee.manager_id}",
        }
    if enterprise:
        body["schemas"].append(ENTERPRISE_URN)
        body[ENTERPRISE_URN] = enterprise
    body["meta"] = {
        "resourceType": "User",
        "created": _stamp(employee.created_at),
        "lastModified": _stamp(employee.updated_at),
        "location": location,
    }
    return body


def trimmed(body: dict, attributes: str, excluded: str) -> dict:
    """``attributes`` / ``excludedAttributes`` (RFC 7644 §3.4.2.5), applied to
    top-level attributes (a sub-attribute keeps its parent whole)."""

    def tops(raw: str) -> set[str]:
        names = set()
        for item in raw.split(","):
            item = item.strip().lower()
            if item.startswith(ENTERPRISE_URN.lower()):
                names.add(ENTERPRISE_URN.lower())
            elif item.startswith("urn:") and ":" in item:
                names.add(item.rsplit(":", 1)[1].split(".")[0])
            elif item:
                names.add(item.split(".")[0].split("[")[0])
        return names

    always = {"id", "schemas"}
    if attributes.strip():
        keep = tops(attributes) | always
        return {k: v for k, v in body.items() if k.lower() in keep}
    if excluded.strip():
        drop = tops(excluded) - always
        return {k: v for k, v in body.items() if k.lower() not in drop}
    return body


def list_response(resources: list[dict], total: int, start: int) -> dict:
    return {
        "schemas": [LIST_URN],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


def service_provider_config(base: str) -> dict:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": False},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "A token made by `manage.py scim_token NAME`.",
                "primary": True,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{base}ServiceProviderConfig",
        },
    }


def resource_types(base: str) -> list[dict]:
    return [
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "An employee",
            "schema": CORE_URN,
            "schemaExtensions": [{"schema": ENTERPRISE_URN, "required": False}],
            "meta": {
                "resourceType": "ResourceType",
                "location": f"{base}ResourceTypes/User",
            },
        }
    ]


def _attribute(name: str, **extra: Any) -> dict:
    base = {
        "name": name,
        "type": "string",
        "multiValued": False,
        "description": "",
        "required": False,
        "caseExact": False,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
    }
    base.update(extra)
    return base


def _complex(name: str, subs: list[dict], **extra: Any) -> dict:
    return _attribute(name, type="complex", subAttributes=subs, **extra)


def schemas(base: str) -> list[dict]:
    country = settings.SCIM_COUNTRY_ATTRIBUTE
    core = [
        _attribute("userName", required=True, uniqueness="server"),
        _complex("name", [_attribute("givenName"), _attribute("familyName")]),
        # Made of the names (the staff list keeps no display name).
        _attribute("displayName", mutability="readOnly"),
        _attribute("preferredLanguage"),
        _attribute("timezone"),
        _attribute("active", type="boolean"),
        _complex(
            "emails",
            [
                _attribute("value", required=True),
                _attribute("type"),
                _attribute("primary", type="boolean"),
            ],
            multiValued=True,
            # Not required by RFC 7643, but an employee without an address
            # is refused (unless userName is one).
            required=True,
        ),
        _complex(
            "addresses",
            [
                _attribute("country"),
                _attribute("type"),
                _attribute("primary", type="boolean"),
            ],
            multiValued=True,
            description=f"The country / site is read from {country}.",
        ),
    ]
    enterprise = [
        _attribute("employeeNumber"),
        _attribute("department"),
        _complex(
            "manager",
            [
                _attribute("value"),
                _attribute("$ref", type="reference", referenceTypes=["User"]),
            ],
        ),
    ]
    return [
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": urn,
            "name": name,
            "description": name,
            "attributes": attributes,
            "meta": {"resourceType": "Schema", "location": f"{base}Schemas/{urn}"},
        }
        for urn, name, attributes in (
            (CORE_URN, "User", core),
            (ENTERPRISE_URN, "EnterpriseUser", enterprise),
        )
    ]
