"""Writing to the audit log and the evidence chain; verifying them.

``audit_record`` is the one way to append. It runs inside a transaction that
first locks the single ChainHead row (``SELECT … FOR UPDATE`` on PostgreSQL;
SQLite's write lock, taken at BEGIN IMMEDIATE by our settings, does the same),
so concurrent appends queue and the chain never forks. Called inside a
caller's transaction, the entry commits or rolls back with the action it
records.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit import chain, registry
from audit.models import (
    GENESIS,
    AuditAction,
    AuditEntry,
    ChainHead,
    SealedRecord,
)

SYSTEM = "system"
# Rows of a seal written per statement.
SEAL_CHUNK = 2000


def _locked_head() -> ChainHead:
    head = ChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        # First append ever (or a test flushed the table): create the row,
        # tolerating a concurrent creator, then lock it.
        ChainHead.objects.bulk_create([ChainHead(pk=1)], ignore_conflicts=True)
        head = ChainHead.objects.select_for_update().get(pk=1)
    return head


def _actor(actor: Any) -> tuple[Any, str]:
    if actor is None:
        return None, SYSTEM
    if isinstance(actor, str):
        return None, actor[:150]
    if getattr(actor, "pk", None):
        return actor, actor.get_username()[:150]
    return None, SYSTEM


def os_user() -> str:
    try:
        return f"shell:{getpass.getuser()}"
    except Exception:  # no login name in some containers
        return "shell"


def _link(head: ChainHead, entry: AuditEntry, *, insert: bool = True) -> AuditEntry:
    """Hash ``entry`` as the one after ``head``, save it, move the head."""
    entry.seq = head.seq + 1
    entry.prev_sha256 = head.entry_sha256
    entry.record_sha256 = chain.entry_record(entry)
    entry.entry_sha256 = chain.link(entry.prev_sha256, entry.record_sha256)
    entry.save(force_insert=insert)
    ChainHead.objects.filter(pk=head.pk).update(
        seq=entry.seq, entry_sha256=entry.entry_sha256
    )
    head.seq, head.entry_sha256 = entry.seq, entry.entry_sha256
    return entry


def _entry(
    *,
    actor: Any,
    action: str,
    target: models.Model | None,
    before: Any,
    after: Any,
    reason: str,
    subject_employee_id: int | None,
) -> AuditEntry:
    user, username = _actor(actor)
    entry = AuditEntry(
        created_at=timezone.now(),
        user=user,
        username=username,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:255] if target is not None else "",
        subject_employee_id=subject_employee_id
        if subject_employee_id is not None
        else registry.subject_of(target),
        before=chain.jsonable(before),
        after=chain.jsonable(after),
        reason=reason,
        personal_salt=chain.salt_new(),
    )
    entry.personal_sha256 = chain.personal_digest(
        entry.personal_salt, chain.entry_personal(entry)
    )
    return entry


def audit_record(
    *,
    actor: Any,
    action: str,
    target: models.Model | None = None,
    before: Any = None,
    after: Any = None,
    reason: str = "",
    subject_employee_id: int | None = None,
) -> AuditEntry:
    """Append one entry. ``actor``: a user, a name ("shell:alice"), or None
    for the system (scheduler, retention task)."""
    entry = _entry(
        actor=actor,
        action=action,
        target=target,
        before=before,
        after=after,
        reason=reason,
        subject_employee_id=subject_employee_id,
    )
    with transaction.atomic():
        return _link(_locked_head(), entry)


def _sealed_insert(seal_id: int, records: list[chain.RecordHash]) -> None:
    """One chunk of SealedRecord rows: COPY on PostgreSQL, one executemany
    elsewhere. The ORM's bulk_create built a model and its SQL per row, and
    psycopg's executemany a round of the protocol per row: most of a large
    seal's time."""
    fields = ("seal", "kind", "object_id", "campaign_id", "employee_id")
    fields += ("record_sha256", "personal_salt", "personal_sha256")
    meta, quote = SealedRecord._meta, connection.ops.quote_name
    table = quote(meta.db_table)
    columns = ", ".join(quote(meta.get_field(name).column) for name in fields)
    rows = [
        (seal_id, str(c.kind), c.object_id, c.campaign_id, c.employee_id,
         c.record_sha256, c.salt, c.personal_sha256)
        for c in records
    ]  # fmt: skip
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608 (names from _meta)
            table, columns, ", ".join(["%s"] * len(fields))
        )
        cursor.executemany(sql, rows)


def _fresh_write(
    seal: AuditEntry, campaign_id: int, ids: dict[str, list[int] | None] | None
) -> dict[str, int]:
    """Write the hash of each new or changed row under ``seal``, a chunk at a
    time as the rows stream by; how many of each kind."""
    counts = {kind: 0 for kind in registry.kinds()}
    chunk: list[chain.RecordHash] = []
    current = chain.records_current(campaign_id, ids=ids, before_seal=seal.pk)
    for record, sealed in current:
        if sealed is not None and sealed.record_sha256 == record.record_sha256:
            continue
        counts[record.kind] += 1
        chunk.append(record)
        if len(chunk) >= SEAL_CHUNK:
            _sealed_insert(seal.pk, chunk)
            chunk = []
    if chunk:
        _sealed_insert(seal.pk, chunk)
    return counts


def records_seal(
    *,
    campaign_id: int,
    actor: Any = None,
    ids: dict[str, list[int] | None] | None = None,
) -> AuditEntry | None:
    """Seal the campaign's new or changed delivery/recipient rows.

    One chain entry per call whatever the number of rows; None when nothing
    changed since the last seal. ``ids`` narrows to some rows per kind, e.g.
    ``{"delivery": [ids of a sent chunk]}``.

    Streamed (chain.py): the entry is written first, its number taken under
    the head's lock, so that the rows can name it as they are written; its
    root and hashes are filled in once the rows are all written, in the same
    transaction, so no one ever sees it unfinished.
    """
    with transaction.atomic():
        head = _locked_head()
        entry = _entry(
            actor=actor,
            action=AuditAction.SEAL,
            target=registry.seal_target(campaign_id),
            before=None,
            after=None,
            reason="",
            subject_employee_id=None,
        )
        entry.seq, entry.prev_sha256 = head.seq + 1, head.entry_sha256
        entry.save(force_insert=True)
        counts = _fresh_write(entry, campaign_id, ids)
        if not any(counts.values()):
            entry.delete()
            return None
        root = chain.seal_root_stored(entry.pk)
        entry.after = {"campaign": campaign_id, "counts": counts, "root": root}
        entry.personal_sha256 = chain.personal_digest(
            entry.personal_salt, chain.entry_personal(entry)
        )
        return _link(head, entry, insert=False)


# --- verification ----------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    head_seq: int
    head_sha256: str
    broken_seq: int | None = None
    problem: str = ""

    def __str__(self) -> str:
        if self.ok:
            return _("Chain intact: %(n)s entries, head #%(seq)s %(hash)s.") % {
                "n": self.checked,
                "seq": self.head_seq,
                "hash": self.head_sha256,
            }
        return _("Chain broken at entry #%(seq)s: %(problem)s") % {
            "seq": self.broken_seq,
            "problem": self.problem,
        }


def _erasures() -> dict[int, int]:
    """Per employee id, the seq of the last erasure or purge entry about them.

    Only such an entry may blank another entry's personal fields (gdpr.py), so
    a blanked entry with no later erasure of its subject was blanked by hand,
    e.g. to hide the reason of a correction."""
    rows = (
        AuditEntry.objects.filter(
            action__in=(AuditAction.ERASURE, AuditAction.PURGE),
            target_type="employees.employee",
        )
        .values("target_id")
        .annotate(last=models.Max("seq"))
    )
    return {int(r["target_id"]): r["last"] for r in rows if r["target_id"].isdigit()}


def _redaction_ok(entry: AuditEntry, erasures: dict[int, int]) -> bool:
    return (
        entry.target_repr == ""
        and entry.before is None
        and entry.after is None
        and entry.reason == ""
        and entry.subject_employee_id is not None
        and erasures.get(entry.subject_employee_id, 0) > entry.seq
    )


def _seal_problem(entry: AuditEntry) -> str:
    if chain.seal_root_stored(entry.pk) != (entry.after or {}).get("root"):
        return _("the sealed record hashes do not match the seal")
    return ""


def _entry_problem(
    entry: AuditEntry, expected_seq: int, prev: str, erasures: dict[int, int]
) -> str:
    if entry.seq != expected_seq:
        return _("entry #%(seq)s is missing") % {"seq": expected_seq}
    if entry.prev_sha256 != prev:
        return _("it does not follow the previous entry")
    if entry.personal_salt:
        digest = chain.personal_digest(entry.personal_salt, chain.entry_personal(entry))
        if digest != entry.personal_sha256:
            return _("its object, before/after or reason was changed")
    elif not _redaction_ok(entry, erasures):
        return _(
            "its personal fields were blanked or changed without a later "
            "erasure of the person it is about"
        )
    if chain.entry_record(entry) != entry.record_sha256:
        return _("its fields were changed")
    if chain.link(prev, entry.record_sha256) != entry.entry_sha256:
        return _("its chain hash was changed")
    if entry.action == AuditAction.SEAL and entry.personal_salt:
        return _seal_problem(entry)
    return ""


def audit_verify(*, up_to_seq: int | None = None) -> ChainReport:
    """Recompute the whole chain (or up to an entry); report the first break."""
    prev, expected, checked = GENESIS, 1, 0
    entries = AuditEntry.objects.order_by("seq")
    if up_to_seq is not None:
        entries = entries.filter(seq__lte=up_to_seq)
    erasures = _erasures()
    for entry in entries.iterator(chunk_size=2000):
        problem = _entry_problem(entry, expected, prev, erasures)
        if problem:
            return ChainReport(False, checked, expected - 1, prev, entry.seq, problem)
        prev, expected, checked = entry.entry_sha256, expected + 1, checked + 1
    if up_to_seq is None:
        head = ChainHead.objects.filter(pk=1).first()
        head_seq = head.seq if head else 0
        head_hash = head.entry_sha256 if head else GENESIS
        if (head_seq, head_hash) != (expected - 1, prev):
            return ChainReport(
                False,
                checked,
                expected - 1,
                prev,
                expected,
                _("entries after #%(seq)s were deleted") % {"seq": expected - 1},
            )
    return ChainReport(True, checked, expected - 1, prev)
