"""One person, one address, whatever the case the file or the form had:
matched case-insensitively, the domain stored in lower case."""

from __future__ import annotations

import io

import pytest
from django.test import Client
from django.urls import reverse

from employees.importing import address_normalise, run_import
from employees.models import Employee
from notifications.campaigns.selectors import campaign_audience
from tests.campaign_factories import campaign_make
from tests.factories import EmployeeFactory

pytestmark = pytest.mark.django_db


def _import(text: str, **options: bool):
    return run_import(io.BytesIO(text.encode()), **options)


def test_it_lower_cases_only_the_domain():
    assert address_normalise("X56.BRONTX@ACME.EXAMPLE") == "X56.BRONTX@acme.example"
    assert address_normalise('"A@B"@Example.COM') == '"A@B"@example.com'


def test_it_keeps_one_employee_when_the_case_changes_between_imports():
    _import("email,first name\nX56.BRONTX@ACME.EXAMPLE,Xavier\n")
    assert Employee.objects.get().email == "X56.BRONTX@acme.example"

    result = _import("email,first name\nx56.brontx@Acme.Example,Xavier\n")
    assert (result.created, result.updated) == (0, 1)
    employee = Employee.objects.get()
    assert employee.email == "x56.brontx@acme.example"

    again = _import("email,first name\nx56.brontx@ACME.example,Xavier\n")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)


def test_it_mails_one_address_for_one_person_written_in_two_cases():
    _import("email\nANN@EXAMPLE.COM\n")
    _import("email\nann@example.com\n", sync=True)
    assert list(Employee.objects.values_list("email", "is_active")) == [
        ("ann@example.com", True)
    ]
    audience = campaign_audience(campaign_make())
    assert list(audience.values_list("email", flat=True)) == ["ann@example.com"]


def test_it_refuses_the_same_address_twice_in_one_file_in_two_cases():
    result = _import("email\nann@example.com\nAnn@Example.COM\n")
    assert result.error_count == 1 and not result.written


@pytest.fixture
def client() -> Client:
    return Client(headers={"accept-language": "en"})


def _form(email: str) -> dict[str, str]:
    return {"email": email, "language": "fr", "is_active": "on",
            "email_status": "ok"}  # fmt: skip


def test_it_stores_the_admin_form_address_with_a_lower_case_domain(client, hr_admin):
    client.force_login(hr_admin)
    response = client.post(
        reverse("admin:employees_employee_add"), _form("Ann.Lee@EXAMPLE.COM")
    )
    assert response.status_code == 302
    assert Employee.objects.get().email == "Ann.Lee@example.com"


def test_it_refuses_in_the_admin_an_address_another_employee_has_in_another_case(
    client, hr_admin
):
    EmployeeFactory(email="ann@example.com")
    client.force_login(hr_admin)
    response = client.post(
        reverse("admin:employees_employee_add"), _form("ANN@example.com")
    )
    assert response.status_code == 200
    assert "Another employee already has this address" in response.content.decode()
    assert Employee.objects.count() == 1
