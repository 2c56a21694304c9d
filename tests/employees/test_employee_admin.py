"""The staff directory in the admin: list, search, filters, deactivation."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.test import Client
from django.urls import reverse

from employees.models import EmailStatus, Employee
from tests.factories import EmployeeFactory

CHANGELIST = "admin:employees_employee_changelist"


@pytest.fixture
def client() -> Client:
    return Client(headers={"accept-language": "en"})


def _listed(client: Client, query: str = "") -> list[str]:
    response = client.get(reverse(CHANGELIST) + (f"?{query}" if query else ""))
    assert response.status_code == 200
    return sorted(e.email for e in response.context["cl"].result_list)


def test_it_lists_employees_with_their_manager_and_status(client, viewer):
    boss = EmployeeFactory(first_name="Zoé", last_name="Martin")
    EmployeeFactory(
        first_name="Hélène", last_name="Dupont", hr_id="00123", manager=boss,
        email_status=EmailStatus.BOUNCED,
    )  # fmt: skip
    client.force_login(viewer)
    body = client.get(reverse(CHANGELIST)).content.decode()
    assert "Hélène Dupont" in body
    assert "00123" in body
    assert "Zoé Martin &lt;" in body  # the manager column
    assert "Bounced" in body


def test_it_lists_without_one_query_per_manager(
    client, viewer, django_assert_max_num_queries
):
    bosses = EmployeeFactory.create_batch(3)
    client.force_login(viewer)
    client.get(reverse(CHANGELIST))  # warm the session and content types
    with django_assert_max_num_queries(12) as few:
        client.get(reverse(CHANGELIST))
    for n in range(40):
        EmployeeFactory(manager=bosses[n % 3])
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse(CHANGELIST))


@pytest.mark.parametrize("term", ["hélène", "DUPONT", "h.dupont@", "HR-77"])
def test_it_finds_employees_by_name_email_or_hr_id(client, viewer, term):
    EmployeeFactory(
        first_name="Hélène", last_name="Dupont", email="h.dupont@example.com",
        hr_id="HR-77",
    )  # fmt: skip
    EmployeeFactory(first_name="Paul", last_name="Martin", hr_id="HR-78")
    client.force_login(viewer)
    assert _listed(client, f"q={term}") == ["h.dupont@example.com"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("department=IT", ["it@example.com"]),
        ("country=Belgique", ["be@example.com"]),
        ("language__exact=en", ["en@example.com"]),
        ("is_active__exact=0", ["gone@example.com"]),
        ("email_status__exact=bounced", ["bounced@example.com"]),
    ],
)
def test_it_filters_the_list(client, viewer, query, expected):
    EmployeeFactory(email="it@example.com", department="IT")
    EmployeeFactory(email="be@example.com", country="Belgique")
    EmployeeFactory(email="en@example.com", language="en")
    EmployeeFactory(email="gone@example.com", is_active=False)
    EmployeeFactory(email="bounced@example.com", email_status=EmailStatus.BOUNCED)
    client.force_login(viewer)
    assert _listed(client, query) == expected


def test_it_offers_no_bulk_delete_but_deactivation(client, hr_admin):
    EmployeeFactory()
    client.force_login(hr_admin)
    actions = dict(
        client.get(reverse(CHANGELIST)).context["action_form"].fields["action"].choices
    )
    assert "delete_selected" not in actions
    assert {"deactivate_selected", "reactivate_selected"} <= set(actions)


def test_it_refuses_a_posted_bulk_delete(client, dpo):
    employee = EmployeeFactory()
    client.force_login(dpo)
    client.post(
        reverse(CHANGELIST),
        {"action": "delete_selected", "_selected_action": [employee.pk], "post": "yes"},
    )
    assert Employee.objects.filter(pk=employee.pk).exists()


def test_it_deactivates_the_selected_employees_and_logs_it(client, hr_admin):
    leaving, staying = EmployeeFactory(), EmployeeFactory()
    already = EmployeeFactory(is_active=False)
    client.force_login(hr_admin)
    response = client.post(
        reverse(CHANGELIST),
        {"action": "deactivate_selected", "_selected_action": [leaving.pk, already.pk]},
        follow=True,
    )
    assert "1 employee deactivated." in response.content.decode()
    leaving.refresh_from_db()
    staying.refresh_from_db()
    assert (leaving.is_active, staying.is_active) == (False, True)
    assert leaving.deactivated_at is not None
    entries = LogEntry.objects.filter(action_flag=CHANGE)
    assert [(e.object_id, e.user_id) for e in entries] == [
        (str(leaving.pk), hr_admin.pk)
    ]
    assert entries[0].get_change_message() == "Changed active."


def test_it_reactivates_the_selected_employees(client, hr_admin):
    back = EmployeeFactory(is_active=False)
    client.force_login(hr_admin)
    client.post(
        reverse(CHANGELIST),
        {"action": "reactivate_selected", "_selected_action": [back.pk]},
    )
    back.refresh_from_db()
    assert back.is_active and back.deactivated_at is None
    assert LogEntry.objects.filter(object_id=str(back.pk)).count() == 1


def test_it_does_not_let_a_viewer_deactivate(client, viewer):
    employee = EmployeeFactory()
    client.force_login(viewer)
    client.post(
        reverse(CHANGELIST),
        {"action": "deactivate_selected", "_selected_action": [employee.pk]},
    )
    employee.refresh_from_db()
    assert employee.is_active
    assert not LogEntry.objects.exists()


def test_it_picks_the_manager_by_autocomplete(client, hr_admin):
    EmployeeFactory(first_name="Zoé", last_name="Martin", email="zoe@example.com")
    EmployeeFactory(first_name="Paul", last_name="Durand")
    client.force_login(hr_admin)
    response = client.get(
        reverse("admin:autocomplete"),
        {"term": "zoé", "app_label": "employees", "model_name": "employee",
         "field_name": "manager"},
    )  # fmt: skip
    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == [
        "Zoé Martin <zoe@example.com>"
    ]


def test_it_shows_import_and_export_buttons_to_whom_may_use_them(
    client, hr_admin, viewer
):
    client.force_login(hr_admin)
    body = client.get(reverse(CHANGELIST)).content.decode()
    assert 'id="import-staff-file"' in body and 'id="export-xlsx"' in body
    client.force_login(viewer)
    body = client.get(reverse(CHANGELIST)).content.decode()
    assert 'id="import-staff-file"' not in body and 'id="export-csv"' in body


def test_it_sets_a_persons_time_zone_by_its_iana_name_and_refuses_others(
    client, hr_admin
):
    """The zone decides when a step reaches the person: HR must see and
    correct it, as the import and SCIM set it."""
    employee = EmployeeFactory(email="ola@example.com", time_zone="")
    client.force_login(hr_admin)
    url = reverse("admin:employees_employee_change", args=[employee.pk])
    form = {"email": employee.email, "language": "pl", "is_active": "on",
            "email_status": "ok"}  # fmt: skip
    refused = client.post(url, {**form, "time_zone": "Europe/Varsovie"})
    assert refused.status_code == 200
    assert "“Europe/Varsovie” is not a time zone" in refused.content.decode()
    # Read as the staff file reads it: any case, stored as IANA spells it.
    response = client.post(url, {**form, "time_zone": " europe/warsaw "})
    assert response.status_code == 302
    employee.refresh_from_db()
    assert employee.time_zone == "Europe/Warsaw"
    assert "Europe/Warsaw" in client.get(url).content.decode()


@pytest.mark.parametrize("through", ["themselves", "someone they manage"])
def test_it_refuses_to_make_someone_their_own_manager(client, hr_admin, through):
    """The file import ignores a row naming its own person as manager; the
    form refuses it, and a loop through the people they manage."""
    ann = EmployeeFactory(email="ann@example.com")
    report = EmployeeFactory(manager=ann)
    client.force_login(hr_admin)
    url = reverse("admin:employees_employee_change", args=[ann.pk])
    form = {"email": ann.email, "language": "fr", "is_active": "on",
            "email_status": "ok"}  # fmt: skip
    boss = ann if through == "themselves" else report
    refused = client.post(url, {**form, "manager": boss.pk})
    assert refused.status_code == 200
    assert "their own manager" in refused.content.decode()
    ann.refresh_from_db()
    assert ann.manager_id is None
    other = EmployeeFactory()
    assert client.post(url, {**form, "manager": other.pk}).status_code == 302
    ann.refresh_from_db()
    assert ann.manager_id == other.pk


def test_a_loop_a_staff_file_brought_in_does_not_block_other_corrections(
    client, hr_admin
):
    """Ann and Bob manage each other (as an HR system exported them): HR
    can still correct Ann's address without first untangling them."""
    ann = EmployeeFactory(email="ann@example.com")
    bob = EmployeeFactory(manager=ann)
    Employee.objects.filter(pk=ann.pk).update(manager=bob)
    client.force_login(hr_admin)
    url = reverse("admin:employees_employee_change", args=[ann.pk])
    form = {"email": "ann.lee@example.com", "language": "fr", "is_active": "on",
            "email_status": "ok", "manager": bob.pk}  # fmt: skip
    assert client.post(url, form).status_code == 302
    ann.refresh_from_db()
    assert (ann.email, ann.manager_id) == ("ann.lee@example.com", bob.pk)
