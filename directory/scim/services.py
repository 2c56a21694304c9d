"""The SCIM writes: create, replace, patch, delete a user, by the staff
list's rules (matched by HR id, else address, case-insensitively; a leaver
deactivated, never deleted), each one audited with the token that did it,
an address change announced to the campaigns (``addresses_changed``)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Lower
from django.db.models.lookups import Exact
from django.utils import timezone
from django.utils.translation import gettext

from audit.models import AuditAction
from audit.services import audit_record
from directory.models import ScimUser
from directory.scim import mapping, paths
from directory.scim.errors import ScimError, not_found
from employees.models import STAFF_FIELDS, Employee, ImportRun
from employees.signals import AddressChange, addresses_changed_send

logger = logging.getLogger(__name__)

# SCIM's "active" arrives with the other attributes: audited with them.
_AUDITED = (*STAFF_FIELDS, "is_active")


def _conflict(detail: str) -> ScimError:
    return ScimError(409, detail, "uniqueness")


def visible() -> QuerySet[Employee]:
    """Every employee a SCIM client sees: all but those it deleted."""
    return Employee.objects.select_related("scim").filter(
        Q(scim__isnull=True) | Q(scim__deleted_at__isnull=True)
    )


def user_get(pk: str) -> Employee:
    employee = visible().filter(pk=int(pk)).first() if pk.isdigit() else None
    if employee is None:
        raise not_found(f"User {pk} not found.")
    return employee


def _holders(fields: dict, user_name: str | None, exclude: int | None) -> set[int]:
    """Ids of other employees holding this HR id, address or userName: one
    round trip (a provisioning cycle creates thousands of users one by one)
    as a UNION, so that each part uses its index (an OR of the three would
    scan the staff table)."""
    parts = []
    if fields.get("hr_id"):
        parts.append(
            Employee.objects.filter(hr_id=fields["hr_id"]).order_by().values_list("pk")
        )
    if fields.get("email"):
        parts.append(
            Employee.objects.filter(Exact(Lower("email"), fields["email"].lower()))
            .order_by()
            .values_list("pk")
        )
    if user_name:
        parts.append(
            ScimUser.objects.filter(
                Exact(Lower("user_name"), user_name.lower())
            ).values_list("employee_id")
        )
    if not parts:
        return set()
    found = {pk for (pk,) in parts[0].union(*parts[1:])}
    found.discard(exclude)
    return found


def _audit(
    actor: str,
    employee: Employee,
    before: dict,
    after: dict,
    reason: str,
    warnings: list[str],
) -> None:
    if warnings:
        logger.warning(
            "SCIM %s (employee %s): %s", reason, employee.pk, "; ".join(warnings)
        )
    if not (before != after or warnings):
        return
    audit_record(
        actor=actor,
        action=AuditAction.SCIM_CHANGE,
        target=employee,
        before=before or None,
        after={
            **after,
            "source": "scim",
            **({"warnings": warnings} if warnings else {}),
        },
        reason=reason,
    )


# Today's Staff imports row of each token: (actor, date) → id, so that a
# provisioning cycle costs one UPDATE per request, not a look-up too.
_RUNS: dict[tuple[str, object], int] = {}


def _tally(actor: str, outcome: str, warnings: int = 0) -> None:
    """Count a request in the admin's Staff imports: one row per token and day,
    source SCIM, with created / updated / unchanged / deactivated (SCIM has
    no runs: the provider pushes one person at a time)."""
    now = timezone.now()
    key = (actor, timezone.localdate(now))
    counts = {
        outcome: F(outcome) + 1,
        "rows_total": F("rows_total") + 1,
        "rows_done": F("rows_done") + 1,
        "warning_count": F("warning_count") + warnings,
        "finished_at": now,
        "updated_at": now,
    }
    run_id = _RUNS.get(key)
    mine = {"source": ImportRun.Source.SCIM, "actor": actor}
    if run_id and ImportRun.objects.filter(pk=run_id, **mine).update(**counts):
        return
    run = (
        ImportRun.objects.filter(
            source=ImportRun.Source.SCIM, actor=actor, file_name=f"{actor}, {key[1]}"
        )
        .order_by("pk")
        .first()
    )
    if run is None:
        run = ImportRun.objects.create(
            source=ImportRun.Source.SCIM,
            actor=actor,
            file_name=f"{actor}, {key[1]}",
            status=ImportRun.Status.DONE,
            message=gettext(
                "Users pushed by the identity provider through SCIM, counted per day."
            ),
        )
    _RUNS[key] = run.pk
    ImportRun.objects.filter(pk=run.pk).update(**counts)


def _save_scim(
    employee: Employee, scim_fields: dict, *, deleted: bool = False, new: bool = False
) -> None:
    """Write the employee's ScimUser. Runs inside the caller's transaction:
    a clash rolls the whole request back."""
    row = None if new else ScimUser.objects.filter(pk=employee.pk).first()
    if row is None:
        row, new = ScimUser(employee=employee, user_name=employee.email), True
    for name, value in scim_fields.items():
        setattr(row, name, value)
    row.deleted_at = timezone.now() if deleted else None
    try:
        row.save(force_insert=new)
    except IntegrityError:
        raise _conflict(f"userName {row.user_name!r} is already taken.") from None
    employee.scim = row


def _write(
    employee: Employee, resolved: mapping.Resolved, actor: str, reason: str
) -> Employee:
    """Apply resolved fields to a (locked) existing employee, audited."""
    holders = _holders(resolved.employee, resolved.scim.get("user_name"), employee.pk)
    if holders:
        raise _conflict("Another user has this userName, e-mail address or HR id.")
    before = {name: getattr(employee, name) for name in _AUDITED}
    previous_email = employee.email
    now = timezone.now()
    for name, value in resolved.employee.items():
        setattr(employee, name, value)
    if before["is_active"] != employee.is_active:
        employee.deactivated_at = None if employee.is_active else now
    employee.source, employee.synced_at = "scim", now
    try:
        employee.save()
    except IntegrityError:  # a concurrent writer: the request rolls back
        raise _conflict("Another user has this e-mail address or HR id.") from None
    _save_scim(employee, resolved.scim)
    after = {name: getattr(employee, name) for name in _AUDITED}
    changed = [name for name in _AUDITED if before[name] != after[name]]
    _audit(
        actor,
        employee,
        {name: before[name] for name in changed},
        {name: after[name] for name in changed},
        reason,
        resolved.warnings,
    )
    if before["is_active"] and not employee.is_active:
        _tally(actor, "deactivated", len(resolved.warnings))
    else:
        _tally(actor, "updated" if changed else "unchanged", len(resolved.warnings))
    if previous_email.lower() != employee.email.lower():
        addresses_changed_send(
            sender=Employee,
            changes=[AddressChange(employee.pk, employee.email, previous_email)],
        )
    return employee


def _locked(pk: int) -> Employee:
    employee = (
        Employee.objects.select_for_update(of=("self",))
        .select_related("scim")
        .filter(pk=pk)
        .filter(Q(scim__isnull=True) | Q(scim__deleted_at__isnull=True))
        .first()
    )
    if employee is None:
        raise not_found(f"User {pk} not found.")
    return employee


def _scim_of(employee: Employee) -> ScimUser | None:
    return getattr(employee, "scim", None)


def user_create(*, body: dict, actor: str) -> Employee:
    """POST /Users. A user the client deleted comes back as the same
    employee, reactivated; anyone else already there is a 409."""
    values = mapping.collect(body)
    resolved = mapping.resolve(values, None, None, full=True)
    with transaction.atomic():
        holders = _holders(resolved.employee, resolved.scim["user_name"], None)
        if holders:
            revived = ScimUser.objects.filter(
                pk__in=holders, deleted_at__isnull=False
            ).select_related("employee")
            if len(holders) > 1 or not revived:
                raise _conflict(
                    "A user with this userName, e-mail address or HR id exists."
                )
            employee = revived[0].employee
            employee.scim = revived[0]
            resolved = mapping.resolve(values, employee, revived[0], full=True)
            return _write(employee, resolved, actor, "SCIM: created again")
        now = timezone.now()
        employee = Employee(
            **resolved.employee,
            source="scim",
            synced_at=now,
            deactivated_at=None if resolved.employee["is_active"] else now,
        )
        try:
            employee.save(force_insert=True)
        except IntegrityError:  # a concurrent writer: the request rolls back
            raise _conflict(
                "A user with this e-mail address or HR id exists."
            ) from None
        _save_scim(employee, resolved.scim, new=True)
        after = {name: getattr(employee, name) for name in _AUDITED}
        _audit(actor, employee, {}, after, "SCIM: created", resolved.warnings)
        _tally(actor, "created", len(resolved.warnings))
    return employee


def user_replace(*, pk: str, body: dict, actor: str) -> Employee:
    """PUT /Users/{id}: the mapped attributes it leaves out are cleared."""
    values = mapping.collect(body)
    with transaction.atomic():
        employee = _locked(int(pk)) if pk.isdigit() else None
        if employee is None:
            raise not_found(f"User {pk} not found.")
        resolved = mapping.resolve(values, employee, _scim_of(employee), full=True)
        return _write(employee, resolved, actor, "SCIM: replaced")


def _operation_values(operations: Any) -> dict:
    if not isinstance(operations, list) or not operations:
        raise ScimError(400, "PATCH needs a list of Operations.", "invalidSyntax")
    out: dict = {}
    for operation in operations:
        if not isinstance(operation, dict):
            raise ScimError(400, "Each operation is an object.", "invalidSyntax")
        # Entra ID capitalises: "Replace", "Add".
        op = str(operation.get("op", "")).lower()
        path, value = operation.get("path"), operation.get("value")
        if op not in ("add", "replace", "remove"):
            raise ScimError(
                400, f"Unknown PATCH op {operation.get('op')!r}.", "invalidSyntax"
            )
        if path is not None and not isinstance(path, str):
            raise ScimError(400, "path must be a string.", "invalidPath")
        if op == "remove":
            if not path:
                raise ScimError(400, "remove needs a path.", "noTarget")
            mapping.assign(out, paths.parse(path), None)
        elif path:
            mapping.assign(out, paths.parse(path), value)
        elif isinstance(value, dict):  # Okta: no path, the attributes in value
            mapping.assign(out, paths.Path("core", ""), value)
        else:
            raise ScimError(
                400, "Without a path, value must be an object.", "invalidValue"
            )
    return out


def user_patch(*, pk: str, body: dict, actor: str) -> Employee:
    """PATCH /Users/{id} (RFC 7644 §3.5.2, with Entra ID's and Okta's ways)."""
    values = _operation_values(body.get("Operations", body.get("operations")))
    with transaction.atomic():
        employee = _locked(int(pk)) if pk.isdigit() else None
        if employee is None:
            raise not_found(f"User {pk} not found.")
        resolved = mapping.resolve(values, employee, _scim_of(employee), full=False)
        return _write(employee, resolved, actor, "SCIM: patched")


def user_delete(*, pk: str, actor: str) -> None:
    """DELETE /Users/{id}: the employee is deactivated (their history is
    evidence) and the resource answers 404 from now on."""
    with transaction.atomic():
        employee = _locked(int(pk)) if pk.isdigit() else None
        if employee is None:
            raise not_found(f"User {pk} not found.")
        was_active = employee.is_active
        now = timezone.now()
        if was_active:
            employee.is_active, employee.deactivated_at = False, now
        employee.source, employee.synced_at = "scim", now
        employee.save(
            update_fields=[
                "is_active",
                "deactivated_at",
                "source",
                "synced_at",
                "updated_at",
            ]
        )
        _save_scim(employee, {}, deleted=True)
        audit_record(
            actor=actor,
            action=AuditAction.SCIM_CHANGE,
            target=employee,
            before={"is_active": was_active},
            after={"is_active": False, "source": "scim", "deleted": True},
            reason="SCIM: deleted",
        )
        _tally(actor, "deactivated" if was_active else "unchanged")


def scim_user_forget(*, employee_id: int) -> None:
    """Erasure (right to be forgotten): the userName and externalId the
    provider gave are personal data too. The resource stays deleted, so the
    provider's next look-up finds nobody and nothing personal is left."""
    ScimUser.objects.filter(pk=employee_id).update(
        user_name=f"erased-{employee_id}",
        external_id="",
        deleted_at=timezone.now(),
    )


def scim_user_data(employee_id: int) -> dict[str, str | None] | None:
    """Right of access: what the provider sent about the person through
    SCIM (None when no SCIM client ever managed them)."""
    found = ScimUser.objects.filter(pk=employee_id).first()
    if found is None:
        return None
    return {
        "user_name": found.user_name,
        "external_id": found.external_id,
        "deleted_at": found.deleted_at.isoformat() if found.deleted_at else None,
    }
