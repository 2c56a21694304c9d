"""The campaign's records, read as streams in id order for the bundle.

Each reader merges two queries ordered by the same key instead of loading a
dictionary (which the evidence CSV does): a recipient with its
acknowledgement rows, a record with its latest seal. Memory stays that of a
few chunks whatever the campaign's size.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from django.db.models import Q

from audit import chain, registry
from audit.models import AuditAction, AuditEntry
from notifications.campaigns.sealing import RecordKind
from notifications.models import (
    Acknowledgement,
    AcknowledgementKind,
    Campaign,
    Delivery,
    Recipient,
    Step,
    acknowledged_late,
)

CHUNK = 5000
RECIPIENT = Recipient._meta.label_lower
CAMPAIGN = Campaign._meta.label_lower


# chain.canonical's bytes for the JSON-native values of a record (datetimes
# are written by _value first): one encoder reused instead of a new
# DjangoJSONEncoder per call, which was a third of the build's time.
# tests/console/test_bundle.py checks the hashes equal chain.record_hash's.
_encode = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False
).encode


def _value(value: Any) -> Any:
    if type(value) is datetime:
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return value


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Hashed:
    """A live record with its hash (chain.record_hash's, salted as sealed)
    and whether that hash is its latest seal's."""

    kind: str
    object_id: int
    employee_id: int | None
    fields: dict[str, Any]  # as hashed: times already written in UTC
    personal: dict[str, Any]
    salt: str
    personal_sha256: str
    record_sha256: str
    sealed: bool
    row: dict[str, Any]


def _hashed(
    kind: str, names, personal_names, row: dict, seal: chain.Seal | None
) -> Hashed:
    fields = {
        name: _value(value) if type(value) is datetime else value
        for name in names
        for value in (row[name],)
    }
    personal = {name: row[name] for name in personal_names}
    if seal is not None and not seal.personal_salt:
        salt, digest = "", seal.personal_sha256  # erased: the digest stands
    else:
        salt = seal.personal_salt if seal else ""
        digest = _sha(salt + _encode({k: _value(v) for k, v in personal.items()}))
    # canonical({"kind", "fields", "personal"}): its keys in sorted order.
    record = _sha(
        f'{{"fields":{_encode(fields)},"kind":{_encode(kind)},"personal":"{digest}"}}'
    )
    return Hashed(
        kind,
        row["id"],
        row["employee_id"],
        fields,
        personal,
        salt,
        digest,
        record,
        seal is not None and seal.record_sha256 == record,
        row,
    )


def record_hashes(kind: str, campaign_id: int) -> Iterator[Hashed]:
    """The live rows of ``kind`` with their hashes, salted as last sealed."""
    sealed_kind = registry.kinds()[kind]
    names, personal_names = sealed_kind.fields, sealed_kind.personal
    seals = chain.latest_seals(kind, campaign_id)
    seal = next(seals, None)
    for row in sealed_kind.rows(campaign_id, None):
        while seal is not None and seal[0] < row["id"]:
            seal = next(seals, None)
        found = seal[1] if seal is not None and seal[0] == row["id"] else None
        yield _hashed(kind, names, personal_names, row, found)


def record_line(record: Hashed, *, pseudonymise: bool) -> dict[str, Any]:
    """What every record line holds: enough to recompute its hash."""
    return {
        "record": record.kind,
        "id": record.object_id,
        "employee_id": record.employee_id,
        "fields": record.fields,
        "personal": None if pseudonymise else record.personal,
        "personal_salt": "" if pseudonymise else record.salt,
        "personal_sha256": record.personal_sha256,
        "record_sha256": record.record_sha256,
    }


# --- acknowledgements -------------------------------------------------------


def corrected_recipients(campaign: Campaign) -> dict[int, list[str]]:
    """Recipient id -> who corrected it by hand, in order (the audit log).
    Read for every campaign's corrections, a handful, then narrowed."""
    entries = AuditEntry.objects.filter(
        action=AuditAction.ACK_CORRECTION, target_type=RECIPIENT
    ).order_by("seq")
    found: dict[int, list[str]] = {}
    for target_id, username in entries.values_list("target_id", "username"):
        if target_id.isdigit():
            found.setdefault(int(target_id), []).append(username or "")
    mine = set(
        Recipient.objects.filter(campaign=campaign, pk__in=list(found)).values_list(
            "pk", flat=True
        )
    )
    return {pk: names for pk, names in found.items() if pk in mine}


def _history(campaign: Campaign) -> Iterator[tuple[int, list[tuple]]]:
    rows = (
        Acknowledgement.objects.filter(recipient__campaign=campaign)
        .order_by("recipient_id", "at", "id")
        .values_list("recipient_id", "kind", "at", "answer", "content_id", "language")
        .iterator(chunk_size=CHUNK)
    )
    for recipient_id, group in groupby(rows, key=lambda row: row[0]):
        yield recipient_id, list(group)


def _changes(rows: list[tuple], correctors: list[str]) -> list[dict[str, Any]]:
    by_hand = (AcknowledgementKind.CORRECTED, AcknowledgementKind.WITHDRAWN)
    changes, hand = [], 0
    for _recipient, kind, at, answer, content_id, language in rows:
        if kind in by_hand:
            by = correctors[hand] if hand < len(correctors) else ""
            hand += 1
        else:
            by = "employee"
        changes.append(
            {
                "at": chain._value(at),
                "kind": kind,
                "answer": "" if kind == AcknowledgementKind.WITHDRAWN else answer,
                "content_id": content_id,
                "language": language,
                "by": by,
            }
        )
    return changes


def recipient_lines(
    campaign: Campaign, *, pseudonymise: bool
) -> Iterator[tuple[Hashed, dict[str, Any]]]:
    """Each recipient: the sealed record, whether late, every answer given."""
    correctors = corrected_recipients(campaign)
    histories = _history(campaign)
    history = next(histories, None)
    for record in record_hashes(RecordKind.RECIPIENT, campaign.pk):
        while history is not None and history[0] < record.object_id:
            history = next(histories, None)
        rows = history[1] if history and history[0] == record.object_id else []
        line = record_line(record, pseudonymise=pseudonymise)
        line["late"] = acknowledged_late(
            record.row["acknowledged_at"], campaign.deadline
        )
        line["acknowledgements"] = _changes(rows, correctors.get(record.object_id, []))
        yield record, line


def message_lines(
    campaign: Campaign, *, pseudonymise: bool
) -> Iterator[tuple[Hashed, dict[str, Any]]]:
    """Each message: the sealed record (what was sent, when, which content
    version), its step and the last event the ESP reported."""
    steps = dict(Step.objects.filter(campaign=campaign).values_list("pk", "kind"))
    events = (
        Delivery.objects.filter(step__campaign=campaign)
        .order_by("id")
        .values_list("id", "status_at", "last_error", "attempts")
        .iterator(chunk_size=CHUNK)
    )
    event = next(events, None)
    for record in record_hashes(RecordKind.DELIVERY, campaign.pk):
        while event is not None and event[0] < record.object_id:
            event = next(events, None)
        same = event is not None and event[0] == record.object_id
        line = record_line(record, pseudonymise=pseudonymise)
        line["step"] = steps.get(record.fields["step_id"], "")
        line["event"] = {
            "status": record.fields["status"],
            "at": chain._value(event[1]) if same else None,
            # A bounce text often quotes the address: personal.
            "detail": event[2] if same and not pseudonymise else "",
            "attempts": event[3] if same else None,
        }
        yield record, line


# --- the audit chain --------------------------------------------------------

FULL_FIELDS = (*chain.ENTRY_FIELDS, *chain.ENTRY_PERSONAL, "personal_salt")
LINK_FIELDS = ("personal_sha256", "record_sha256", "prev_sha256", "entry_sha256")


def campaign_entries(campaign: Campaign) -> Q:
    corrected = [str(pk) for pk in corrected_recipients(campaign)]
    return Q(target_type=CAMPAIGN, target_id=str(campaign.pk)) | Q(
        target_type=RECIPIENT, target_id__in=corrected
    )


def chain_lines(
    campaign: Campaign, head_seq: int, *, pseudonymise: bool
) -> Iterator[dict[str, Any]]:
    """The chain from the campaign's first entry to ``head_seq``: the
    campaign's entries in full, the others by their hashes only (enough to
    check every link, nothing of other campaigns or people)."""
    mine = campaign_entries(campaign)
    first = (
        AuditEntry.objects.filter(mine, seq__lte=head_seq)
        .order_by("seq")
        .values_list("seq", flat=True)
        .first()
    )
    ids = set(
        AuditEntry.objects.filter(mine, seq__lte=head_seq).values_list("seq", flat=True)
    )
    rows = (
        AuditEntry.objects.filter(seq__gte=first or head_seq, seq__lte=head_seq)
        .order_by("seq")
        .values(*FULL_FIELDS, *LINK_FIELDS)
        .iterator(chunk_size=CHUNK)
    )
    for row in rows:
        if row["seq"] not in ids:
            yield {"seq": row["seq"], "campaign": False} | {
                name: row[name] for name in LINK_FIELDS
            }
            continue
        line = {name: chain._value(value) for name, value in row.items()}
        if pseudonymise and row["subject_employee_id"] is not None:
            # About a person: the digest stands in for the personal fields.
            for name in (*chain.ENTRY_PERSONAL, "personal_salt"):
                line[name] = None
        line["campaign"] = True
        yield line
