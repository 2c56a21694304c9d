from __future__ import annotations

import re
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import translation

from employees.models import Employee
from notifications.models import Campaign

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


def _load_demo() -> str:
    out = StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


def _printed_password(output: str) -> str:
    match = re.search(r"user: admin\s+password: (\S+)", output)
    assert match, output
    return match.group(1)


def test_it_loads_a_few_hundred_fictional_employees():
    output = _load_demo()

    employees = Employee.objects.all()
    assert employees.count() == 300
    assert "Created 300 demo employees" in output
    assert all(e.email.endswith("@example.com") for e in employees)
    assert employees.values("department").distinct().count() >= 5
    assert employees.values("country").distinct().count() >= 5
    french = employees.filter(language="fr").count()
    assert 150 < french < 300  # mostly French, some English
    assert employees.filter(is_active=False).exists()


def test_it_counts_one_restored_employee_in_the_singular_in_both_languages():
    _load_demo()
    # Someone who left: not enrolled in the demo campaign, so deletable.
    departed = Employee.objects.filter(is_active=False).first().hr_id
    Employee.objects.get(hr_id=departed).delete()

    english = _load_demo()
    Employee.objects.get(hr_id=departed).delete()
    with translation.override("fr"):
        french = _load_demo()

    assert "Created 1 demo employee (300 in total)." in english
    assert "1 salarié de démonstration créé (300 au total)." in french


def test_it_keeps_accents_and_non_latin_letters_in_names():
    _load_demo()

    names = {e.full_name for e in Employee.objects.all()}
    assert {"Hélène Lefèvre", "Øyvind Søreide", "Jürgen Müller"} <= names
    assert "Thị Mai Đặng" in names
    assert Employee.objects.get(hr_id="DEMO-0005").email == "thi-mai.dang@example.com"


def test_it_gives_everyone_but_the_head_a_manager_without_cycles():
    _load_demo()

    employees = {e.pk: e for e in Employee.objects.all()}
    assert sum(1 for e in employees.values() if e.manager_id is None) == 1
    for employee in employees.values():
        seen = set()
        while employee.manager_id is not None:
            assert employee.pk not in seen
            seen.add(employee.pk)
            employee = employees[employee.manager_id]
    assert Employee.objects.filter(reports__isnull=False).distinct().count() > 20


def test_it_changes_nothing_on_a_second_run(var_dir):
    first = _load_demo()
    before = list(Employee.objects.values_list("pk", "updated_at", "manager_id"))

    second = _load_demo()

    assert "nothing changed" in second
    assert list(Employee.objects.values_list("pk", "updated_at", "manager_id")) == (
        before
    )
    assert _printed_password(second) == _printed_password(first)


def test_it_prints_an_admin_login_that_works(client, var_dir):
    password = _printed_password(_load_demo())

    assert client.login(username="admin", password=password)
    assert client.get("/admin/").status_code == 200
    assert (var_dir / "demo-admin-password.txt").read_text().strip() == password


def test_it_warns_when_the_admin_password_was_changed(django_user_model):
    _load_demo()
    admin = django_user_model.objects.get(username="admin")
    admin.set_password("changed-by-the-dpo-1")
    admin.save()

    output = _load_demo()

    assert "changepassword admin" in output
    admin.refresh_from_db()
    assert admin.check_password("changed-by-the-dpo-1")


def test_it_completes_a_partly_loaded_demo():
    _load_demo()
    # Interrupted before the last employees and the campaign were written.
    Campaign.objects.all().delete()
    Employee.objects.filter(hr_id__gt="DEMO-0290").delete()

    output = _load_demo()

    assert "Created 10 demo employees (300 in total)" in output
    assert Employee.objects.filter(hr_id="DEMO-0300", manager__isnull=False).exists()


def test_it_launches_the_linkedin_campaign_for_the_demo_staff():
    output = _load_demo()
    campaign = Campaign.objects.get()
    assert campaign.template == "linkedin-ai-optout"
    assert campaign.status == "scheduled"
    assert (
        campaign.recipients.count() == Employee.objects.filter(is_active=True).count()
    )
    assert set(campaign.contents.values_list("language", flat=True)) == set(
        dict(settings.LANGUAGES)
    )
    assert "Launched the demo campaign" in output
    assert "already there" in _load_demo()
    assert Campaign.objects.count() == 1
