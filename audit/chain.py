"""Hashing and verification of the evidence chain.

Why deliveries are *sealed in batches* rather than chained one by one:
chaining each Delivery as it is sent would put every send of every worker
behind one global lock (the chain head), turning a parallel pipeline of
300,000 messages into a queue, and would make the sending code depend on the
audit app. Instead, ``records_seal`` hashes the delivery and recipient rows
of a campaign and appends the new or changed row hashes as one "seal" entry
(its ``after`` holds the Merkle-style root of the batch). It runs

- at every evidence export (so an export always covers the rows it lists),
- before an erasure or a purge (the evidence is frozen before names go), and
- optionally right after a chunk is sent or a step finishes (a one-line hook
  in the sending code: ``records_seal(campaign_id=...)``), which shortens the
  window in which an edit made directly in the database would be sealed as if
  legitimate. An edit after a row was sealed is always detected: the live row
  no longer matches its latest sealed hash (``records_verify``).

A seal is streamed, whatever the campaign's size: the live rows and their
latest seals are read in id order side by side, the new hashes written by
the chunk, and the root read back from the table in the order it sorts its
lines (``seal_root_stored``). Memory stays that of a few chunks.

Personal fields enter a record's hash only through a salted
``personal_sha256`` stored beside it: erasure forgets the salt and blanks the
fields, the record hash and the chain stay verifiable, and the digest can no
longer be brute-forced back to an address.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from operator import itemgetter
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Max, Min

from audit import registry
from audit.models import AuditEntry, SealedRecord

ENTRY_FIELDS = (
    "seq",
    "created_at",
    "user_id",
    "username",
    "action",
    "target_type",
    "target_id",
    "subject_employee_id",
)
ENTRY_PERSONAL = ("target_repr", "before", "after", "reason")


def _value(value: Any) -> Any:
    # One spelling of a time whatever the database returns: UTC, microseconds.
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return value


# One encoder for every call: json.dumps(cls=...) built a new one each time,
# which was most of the cost of hashing a record. It holds no state.
_canonical = DjangoJSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False
).encode
CHUNK = 2000


def canonical(data: Any) -> str:
    """Sorted keys, no spaces, UTF-8: the same bytes on every machine."""
    return _canonical(data)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def jsonable(data: Any) -> Any:
    """What a JSONField gives back: dates as text, tuples as lists."""
    if data is None:
        return None
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def salt_new() -> str:
    return secrets.token_hex(16)


def personal_digest(salt: str, values: dict[str, Any]) -> str:
    return sha256(salt + canonical({k: _value(v) for k, v in values.items()}))


def record_digest(kind: str, fields: dict[str, Any], personal_sha256: str) -> str:
    clear = {k: _value(v) for k, v in fields.items()}
    return sha256(
        canonical({"kind": kind, "fields": clear, "personal": personal_sha256})
    )


def link(prev_sha256: str, record_sha256: str) -> str:
    return sha256(prev_sha256 + record_sha256)


def seal_root(items: Iterable[tuple[str, int, str]]) -> str:
    """The hash of a batch of (kind, object id, record hash), order-free."""
    lines = sorted(f"{kind}:{oid}:{digest}" for kind, oid, digest in items)
    return sha256("\n".join(lines))


def _sorted_lines(records, digits: int) -> Iterator[str]:
    """A seal's records of one kind whose ids have ``digits`` digits: in id
    order their lines are in text order too (same length)."""
    low = 10 ** (digits - 1) if digits > 1 else 0
    rows = (
        records.filter(object_id__gte=low, object_id__lt=10**digits)
        .order_by("object_id", "record_sha256")
        .values_list("kind", "object_id", "record_sha256")
        .iterator(chunk_size=CHUNK)
    )
    return (f"{kind}:{oid}:{digest}" for kind, oid, digest in rows)


def seal_root_stored(seal_id: int) -> str:
    """``seal_root`` of the records a seal holds, read from the table with a
    few chunks in memory instead of sorting them all: ids of one length
    sort as text as they do as numbers, so one ordered query per kind and
    length, merged, gives the lines in the order ``seal_root`` sorts them."""
    records = SealedRecord.objects.filter(seal_id=seal_id)
    spans = (
        records.order_by()
        .values_list("kind")
        .annotate(Min("object_id"), Max("object_id"))
    )
    streams: list[Iterable[str]] = []
    for kind, low, high in spans:
        mine = records.filter(kind=kind)
        # No id is negative; a row edited to one still counts, sorted here.
        negative = mine.filter(object_id__lt=0).values_list(
            "kind", "object_id", "record_sha256"
        )
        streams.append(sorted(f"{k}:{o}:{d}" for k, o, d in negative))
        for digits in range(len(str(max(low, 0))), len(str(max(high, 0))) + 1):
            streams.append(_sorted_lines(mine, digits))
    digest = hashlib.sha256()
    for n, line in enumerate(heapq.merge(*streams)):
        digest.update((f"\n{line}" if n else line).encode())
    return digest.hexdigest()


def export_digest(record_hashes: Iterable[str]) -> str:
    return sha256("\n".join(record_hashes))


# --- audit entries ---------------------------------------------------------


def entry_personal(entry: AuditEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in ENTRY_PERSONAL}


def entry_record(entry: AuditEntry) -> str:
    fields = {name: getattr(entry, name) for name in ENTRY_FIELDS}
    return record_digest("audit", fields, entry.personal_sha256)


# --- sealed records ---------------------------------------------------------


@dataclass(frozen=True)
class RecordHash:
    kind: str
    object_id: int
    campaign_id: int
    employee_id: int | None
    fields: dict[str, Any]
    personal: dict[str, Any]
    salt: str
    personal_sha256: str
    record_sha256: str


@dataclass(frozen=True, slots=True)
class Seal:
    """What a record's latest SealedRecord says of it."""

    personal_salt: str
    personal_sha256: str
    record_sha256: str


def latest_seals(
    kind: str,
    campaign_id: int,
    ids: list[int] | None = None,
    *,
    before_seal: int | None = None,
) -> Iterator[tuple[int, Seal]]:
    """(object id, its latest seal) in id order, streamed. ``before_seal``:
    only seals older than that entry's id (not the one being written)."""
    rows = SealedRecord.objects.filter(kind=kind, campaign_id=campaign_id)
    if ids is not None:
        rows = rows.filter(object_id__in=ids)
    if before_seal is not None:
        rows = rows.filter(seal_id__lt=before_seal)
    values = (
        rows.order_by("object_id", "seal_id", "id")
        .values_list("object_id", "personal_salt", "personal_sha256", "record_sha256")
        .iterator(chunk_size=CHUNK)
    )
    for object_id, versions in groupby(values, key=itemgetter(0)):
        *_, last = versions
        yield object_id, Seal(*last[1:])


def record_hash(
    kind: str, row: dict, sealed: Seal | None, *, new_salt: bool = True
) -> RecordHash:
    """The hash of a live row, reusing the salt of its latest seal.

    After an erasure the salt is gone: the stored personal digest stands in
    for the blanked fields.
    """
    sealed_kind = registry.kinds()[kind]
    fields = {name: row[name] for name in sealed_kind.fields}
    values = {name: row[name] for name in sealed_kind.personal}
    if sealed is not None and not sealed.personal_salt:
        salt, digest = "", sealed.personal_sha256
    else:
        salt = sealed.personal_salt if sealed else (salt_new() if new_salt else "")
        digest = personal_digest(salt, values)
    return RecordHash(
        kind=kind,
        object_id=row["id"],
        campaign_id=row["campaign_id"],
        employee_id=row["employee_id"],
        fields=fields,
        personal=values,
        salt=salt,
        personal_sha256=digest,
        record_sha256=record_digest(kind, fields, digest),
    )


def records_current(
    campaign_id: int,
    *,
    ids: dict[str, Iterable[int] | None] | None = None,
    before_seal: int | None = None,
) -> Iterator[tuple[RecordHash, Seal | None]]:
    """Every (live hash, latest seal) of a campaign's records, streamed: the
    rows and their seals are read in id order side by side."""
    for kind, sealed_kind in registry.kinds().items():
        if ids is not None and kind not in ids:
            continue
        wanted = ids.get(kind) if ids else None
        wanted = list(wanted) if wanted is not None else None
        seals = latest_seals(kind, campaign_id, wanted, before_seal=before_seal)
        seal = next(seals, None)
        for row in sealed_kind.rows(campaign_id, wanted):
            while seal is not None and seal[0] < row["id"]:
                seal = next(seals, None)
            found = seal[1] if seal is not None and seal[0] == row["id"] else None
            yield record_hash(kind, row, found), found


@dataclass(frozen=True)
class Mismatch:
    kind: str
    object_id: int
    problem: str

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id}: {self.problem}"


def records_verify(campaign_id: int) -> list[Mismatch]:
    """Live rows that differ from their latest sealed hash (edited outside
    the application since they were sealed)."""
    found = []
    for current, sealed in records_current(campaign_id):
        if sealed and current.record_sha256 != sealed.record_sha256:
            found.append(
                Mismatch(current.kind, current.object_id, "changed since sealed")
            )
    return found
