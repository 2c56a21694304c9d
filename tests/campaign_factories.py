"""factory_boy factories and personas for the campaign tests."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import factory

from employees.models import Employee
from notifications.campaigns import services

PARIS = ZoneInfo("Europe/Paris")


class EmployeeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Employee

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    first_name = factory.Sequence(lambda n: f"First{n}")
    last_name = factory.Sequence(lambda n: f"Last{n}")
    department = "Sales"
    country = "FR"
    language = "fr"


def campaign_make(
    *,
    name: str = "LinkedIn AI",
    deadline: datetime | None = None,
    template: str = "linkedin-ai-optout",
    **kwargs: object,
):
    return services.campaign_create(
        name=name,
        deadline=deadline or datetime(2025, 11, 3, 0, 0, tzinfo=PARIS),
        template=template,
        **kwargs,
    )
