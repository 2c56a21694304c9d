"""``filter=`` (RFC 7644 §3.4.2.2) → a queryset condition.

Parsed by scim2-filter-parser (its lexer and parser: the whole grammar,
grouping, ``not``, value paths); the tree is walked here rather than through
its Django transpiler because that one drops an attribute it does not know,
so ``title eq "x"`` would list every user, and it compares addresses with
UPPER(), which the lower-case e-mail index cannot serve. An unknown
attribute or operator is a 400 invalidFilter.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.db.models.functions import Lower
from django.db.models.lookups import Exact
from django.utils.dateparse import parse_datetime
from scim2_filter_parser import ast
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser

from directory.models import ScimUser
from directory.scim import mapping, paths
from directory.scim.errors import ScimError
from employees.models import Employee

# Logical name (mapping.table) → model field, for plain text comparisons.
_TEXT = {
    "first_name": "first_name",
    "last_name": "last_name",
    "department": "department",
    "country": "country",
    "employee_number": "hr_id",
    "preferred_language": "language",
    "locale": "language",
    "time_zone": "time_zone",
}
_OPS = {
    "eq": "iexact",
    "co": "icontains",
    "sw": "istartswith",
    "ew": "iendswith",
    "gt": "gt",
    "ge": "gte",
    "lt": "lt",
    "le": "lte",
}
_NOTHING = Q(pk__in=[])


def _invalid(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidFilter")


def _compare(field: str, op: str, value: Any) -> Q:
    if op == "pr":
        return ~Q(**{field: ""}) & Q(**{f"{field}__isnull": False})
    if op == "ne":
        return ~Q(**{f"{field}__iexact": value})
    return Q(**{f"{field}__{_OPS[op]}": value})


def _email(op: str, value: str, field: str = "email") -> Q:
    if op == "eq":
        # Lower(email) = value: served by the unique lower-case index.
        return Q(Exact(Lower(field), value.lower()))
    return _compare(field, op, value)


def _user_name(op: str, value: str) -> Q:
    """A SCIM client's userName, or a staff-file employee's address."""
    if op == "eq":
        # Entra ID and Okta ask this before every create: two index look-ups
        # now rather than an OR across the join, which scans the staff table.
        managed = ScimUser.objects.filter(Exact(Lower("user_name"), value.lower()))
        plain = Employee.objects.filter(
            Exact(Lower("email"), value.lower()), scim__isnull=True
        )
        ids = managed.values_list("employee_id").union(
            plain.order_by().values_list("pk")
        )
        return Q(pk__in=[pk for (pk,) in ids])
    managed = _email(op, value, "scim__user_name")
    plain = Q(scim__isnull=True) & _email(op, value)
    return managed | plain


def _date(field: str, op: str, value: str) -> Q:
    when = parse_datetime(value)
    if when is None or op not in ("eq", "gt", "ge", "lt", "le"):
        raise _invalid(f"Cannot compare dates with {op!r} {value!r}.")
    return Q(**{field if op == "eq" else f"{field}__{_OPS[op]}": when})


def _boolean(field: str, op: str, value: Any) -> Q:
    if op == "pr":
        return Q()
    if op not in ("eq", "ne") or str(value).lower() not in ("true", "false"):
        raise _invalid(f"{field}: compare with eq true or eq false.")
    wanted = str(value).lower() == "true"
    return Q(**{field: wanted if op == "eq" else not wanted})


def _special(name: str, op: str, value: Any) -> Q | None:
    if name == "id":
        if op != "eq":
            raise _invalid("id: only eq is supported.")
        return Q(pk=int(value)) if str(value).isdigit() else _NOTHING
    if name == "user_name":
        return _user_name(op, str(value))
    if name == "email":
        return _email(op, str(value))
    if name == "external_id":
        return _compare("scim__external_id", op, value) | (
            Q(scim__isnull=True) & _compare("hr_id", op, value)
        )
    if name == "active":
        return _boolean("is_active", op, value)
    if name == "manager":
        return Q(manager_id=int(value)) if str(value).isdigit() else _NOTHING
    if name in ("meta_lastmodified", "meta_created"):
        field = "updated_at" if name == "meta_lastmodified" else "created_at"
        return _date(field, op, str(value))
    return None


def _name_of(node: ast.AttrPath, namespace: ast.AttrPath | None) -> tuple[str, Any]:
    """The logical name an attribute path compares, or a constant that the
    employee's one work address has (``type``, ``primary``)."""
    uri = (node.uri or "").lower()
    schema = paths.SCHEMAS.get(uri)
    if schema is None:
        raise _invalid(f"Unknown schema {node.uri!r}.")
    if namespace is not None:
        attr, sub = namespace.attr_name.lower(), node.attr_name.lower()
    else:
        attr = node.attr_name.lower()
        sub = node.sub_attr.value.lower() if node.sub_attr else None
    if (schema, attr) in mapping.MULTI_VALUED and sub in ("type", "primary"):
        return "constant", {"type": "work", "primary": True}[sub]
    if attr == "meta" and schema == "core" and sub in ("lastmodified", "created"):
        return f"meta_{sub}", None
    if schema == "core" and attr == "id" and sub is None:
        return "id", None
    if (schema, attr) in mapping.MULTI_VALUED and sub is None:
        sub = "value"
    name = mapping.table().get((schema, attr, sub))
    if name is None:
        raise _invalid(f"Filtering on {node.attr_name!r} is not supported.")
    return name, None


def _constant(have: Any, op: str, value: Any) -> Q:
    if op == "pr":
        return Q()
    matched = str(have).lower() == str(value).lower()
    if op not in ("eq", "ne"):
        raise _invalid(f"{op!r} cannot compare {value!r} here.")
    return Q() if matched == (op == "eq") else _NOTHING


def _attr_expr(node: ast.AttrExpr, namespace: ast.AttrPath | None) -> Q:
    op = node.value.lower()
    value = node.comp_value.value if node.comp_value is not None else None
    if op not in _OPS and op not in ("ne", "pr"):
        raise _invalid(f"Unknown operator {node.value!r}.")
    if isinstance(node.attr_path.attr_name, ast.Filter):
        # emails[type eq "work"].value eq "x": the item filter and the value.
        inner = node.attr_path.attr_name
        selected = _walk(inner, None)
        target = ast.AttrPath(inner.namespace.attr_name, None, inner.namespace.uri)
        path = ast.AttrPath(
            node.attr_path.sub_attr.value if node.attr_path.sub_attr else "value",
            None,
            None,
        )
        return selected & _attr_expr(ast.AttrExpr(op, path, node.comp_value), target)
    name, constant = _name_of(node.attr_path, namespace)
    if name == "constant":
        return _constant(constant, op, value)
    if value is None and op != "pr":
        raise _invalid(f"{node.value!r} needs a value.")
    special = _special(name, op, value)
    if special is not None:
        return special
    return _compare(_TEXT[name], op, value)


def _walk(node: Any, namespace: ast.AttrPath | None) -> Q:
    if isinstance(node, ast.Filter):
        inner = _walk(node.expr, node.namespace or namespace)
        return ~inner if node.negated else inner
    if isinstance(node, ast.LogExpr):
        left, right = _walk(node.expr1, namespace), _walk(node.expr2, namespace)
        return left & right if node.op.lower() == "and" else left | right
    if isinstance(node, ast.AttrExpr):
        return _attr_expr(node, namespace)
    raise _invalid("Unsupported filter.")


def condition(text: str) -> Q:
    """The Q of a SCIM filter, or a 400 invalidFilter."""
    try:
        tree = SCIMParser().parse(SCIMLexer().tokenize(text))
    except Exception as error:  # the parser raises several kinds, all "bad filter"
        raise _invalid(f"Invalid filter: {error}") from None
    if tree is None:
        raise _invalid("Empty filter.")
    return _walk(tree, None)
