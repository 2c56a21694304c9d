"""factory_boy factories and the personas of the admin tests.

Personas (CONTRIBUTING.md): a DPO (superuser), an HR admin who manages the staff
directory, and a viewer who may only look at it. Build them with
``dpo_make()``, ``hr_admin_make()``, ``viewer_make()``; test modules wrap them
in fixtures.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

import factory
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, Permission, User

from employees.models import Employee

PASSWORD = "correct horse battery staple"

HR_ADMIN_PERMISSIONS = (
    "employees.view_employee",
    "employees.add_employee",
    "employees.change_employee",
    "employees.view_importrun",
)
VIEWER_PERMISSIONS = ("employees.view_employee",)


@cache
def _password_hash() -> str:
    # Hashed once per test run: PBKDF2 costs ~0.3 s per user otherwise.
    return make_password(PASSWORD)


def _permissions(names: Iterable[str]) -> list[Permission]:
    found = []
    for name in names:
        app_label, codename = name.split(".")
        found.append(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return found


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    is_staff = True
    password = factory.LazyFunction(_password_hash)

    @factory.post_generation
    def permissions(self, create: bool, names: Iterable[str] | None) -> None:
        """``UserFactory(permissions=["employees.view_employee"])``"""
        if create and names:
            self.user_permissions.add(*_permissions(names))


class EmployeeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Employee

    email = factory.Sequence(lambda n: f"employee{n}@example.com")
    first_name = factory.Sequence(lambda n: f"First{n}")
    last_name = factory.Sequence(lambda n: f"Last{n}")
    department = "Sales"
    country = "France"
    language = "fr"


def dpo_make(username: str = "dpo") -> User:
    return UserFactory(username=username, is_superuser=True)


def hr_admin_make(username: str = "hr") -> User:
    return UserFactory(username=username, permissions=HR_ADMIN_PERMISSIONS)


def viewer_make(username: str = "viewer") -> User:
    return UserFactory(username=username, permissions=VIEWER_PERMISSIONS)


def member_make(group: str, username: str | None = None) -> User:
    """A staff user in one of the role groups the migrations create
    (DPO, HR, Viewer; the ``roles`` fixture restores them after a
    transactional test)."""
    user = UserFactory(username=username or f"{group.lower()}-person")
    user.groups.add(Group.objects.get(name=group))
    return user
