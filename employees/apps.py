from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EmployeesConfig(AppConfig):
    name = "employees"
    verbose_name = _("Staff directory")

    def ready(self) -> None:
        from audit import registry

        # An audit entry about an employee concerns that employee (erasure).
        registry.subject_register("employees.employee", lambda employee: employee.pk)
