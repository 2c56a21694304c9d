"""What the domains tell the ledger, filled in from their ``AppConfig.ready()``.

The ledger imports no domain app (ARCHITECTURE.md). A domain registers:

- each kind of row it wants sealed into the chain (``SealedKind``): the
  fields hashed in clear, the personal fields hashed only through the salted
  digest, and how to read one campaign's rows of that kind;
- for a model whose audit entries concern one employee, how to find that
  employee (``subject_register``): what an erasure redacts later;
- what a seal entry names as its target (``seal_target_register``): the
  campaign whose rows it sealed.

Registration order is the order in which kinds are sealed and verified.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db import models

# Reads one campaign's rows of a kind, narrowed to some ids when given, in id
# order (the ledger reads them beside their seals, streamed). Each row holds
# the kind's fields and personal fields, plus "campaign_id" and
# "employee_id" (the person the row is about, or None).
RowReader = Callable[[int, Iterable[int] | None], Iterable[dict[str, Any]]]


@dataclass(frozen=True)
class SealedKind:
    name: str
    fields: tuple[str, ...]
    personal: tuple[str, ...]
    rows: RowReader


_kinds: dict[str, SealedKind] = {}
_subjects: dict[str, Callable[[Any], int | None]] = {}
_seal_target: list[Callable[[int], models.Model | None]] = []


def kind_register(kind: SealedKind) -> None:
    _kinds[kind.name] = kind


def kinds() -> dict[str, SealedKind]:
    return _kinds


def subject_register(label: str, subject: Callable[[Any], int | None]) -> None:
    """``label``: a model's ``app_label.model_name``, as ``_meta.label_lower``."""
    _subjects[label] = subject


def subject_of(target: models.Model | None) -> int | None:
    """The employee an entry about ``target`` concerns, if any."""
    if target is None:
        return None
    subject = _subjects.get(target._meta.label_lower)
    return subject(target) if subject else None


def seal_target_register(target: Callable[[int], models.Model | None]) -> None:
    _seal_target[:] = [target]


def seal_target(campaign_id: int) -> models.Model | None:
    return _seal_target[0](campaign_id) if _seal_target else None
