"""Employees through the API: create or update matched as the file import
matches (HR id, else e-mail), deactivate; audit-logged with the key's name."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import AuditAction
from audit.services import audit_record
from employees.importing import address_normalise
from employees.models import MANAGER_LOOP, STAFF_FIELDS, Employee, manager_loops
from employees.services import employee_set_active
from employees.signals import AddressChange, addresses_changed_send


def employee_match(*, hr_id: str, email: str) -> Employee | None:
    if hr_id:
        found = Employee.objects.filter(hr_id=hr_id).first()
        if found is not None:
            return found
    return Employee.objects.filter(email__iexact=address_normalise(email)).first()


def employee_upsert(
    *, data: dict, actor: str, employee: Employee | None = None
) -> tuple[Employee, bool]:
    """Create or update; returns (employee, created). A value another
    employee holds already (e-mail, HR id) is an error on that field, not a
    crash; so is a manager who would make the person their own manager
    (also when a POST matched someone already on the list)."""
    if "email" in data:
        data = {**data, "email": address_normalise(data["email"])}
    if employee is None:
        employee = employee_match(
            hr_id=data.get("hr_id", ""), email=data.get("email", "")
        )
    manager_id = data.get("manager_id")
    if (
        employee is not None
        and manager_id != employee.manager_id  # as the admin's form: when changed
        and manager_loops(employee.pk, manager_id)
    ):
        raise ValidationError({"manager": MANAGER_LOOP})
    try:
        return _upsert(data=data, actor=actor, employee=employee)
    except IntegrityError as exc:
        raise ValidationError(_conflict(data, employee)) from exc


def _conflict(data: dict, employee: Employee | None) -> dict[str, str]:
    """Which of the unique values another employee already holds."""
    others = Employee.objects.all()
    if employee is not None:
        others = others.exclude(pk=employee.pk)
    if data.get("hr_id") and others.filter(hr_id=data["hr_id"]).exists():
        return {"hr_id": _("Another employee has this HR id.")}
    return {"email": _("Another employee has this e-mail address.")}


def _upsert(
    *, data: dict, actor: str, employee: Employee | None
) -> tuple[Employee, bool]:
    created = employee is None
    # STAFF_FIELDS alone: "active" changes only through employee_deactivate.
    with transaction.atomic():
        if created:
            employee = Employee.objects.create(
                **{k: v for k, v in data.items() if k in STAFF_FIELDS}, source="api"
            )
            before: dict = {}
            changed = {k: data[k] for k in data if k in STAFF_FIELDS}
        else:
            before = {k: getattr(employee, k) for k in data if k in STAFF_FIELDS}
            changed = {
                k: v for k, v in data.items() if k in STAFF_FIELDS and before[k] != v
            }
            if changed:
                Employee.objects.filter(pk=employee.pk).update(
                    **changed, source="api", updated_at=timezone.now()
                )
            previous_email = employee.email
            employee.refresh_from_db()
            before = {k: before[k] for k in changed}
            if "email" in changed:
                move = AddressChange(employee.pk, employee.email, previous_email)
                transaction.on_commit(
                    lambda: addresses_changed_send(sender=Employee, changes=[move])
                )
        if changed:
            audit_record(
                actor=actor,
                action=AuditAction.EMPLOYEE_CHANGE,
                target=employee,
                before=before,
                after=changed,
            )
    return employee, created


def employee_deactivate(*, employee: Employee, actor: str) -> Employee:
    employee_set_active(employee_ids=[employee.pk], active=False, user=actor)
    employee.refresh_from_db()
    return employee
