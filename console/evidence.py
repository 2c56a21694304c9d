"""Evidence of a campaign for GDPR accountability (art. 5(2)), and its check.

An export first seals the campaign's records (services.records_seal), then
lists one row per recipient (the acknowledgement) and per message, each with
the exact hashed fields (``fields``, canonical JSON), the salted digest of
its personal fields and its record hash; an acknowledgement also shows, outside
the hash, every answer given or changed (``answer_history``). A closing "chain" row carries the
export's digest (SHA-256 over the record hashes, in file order) and the chain
head: the hash of the ``evidence_export`` audit entry written for this export.

``evidence_verify`` checks a file on its own (each row against its hashes,
the digest) and against the database (the audit entry, the chain up to it,
each row's sealed hash, and whether the live row was edited since).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from audit import chain, services
from audit.models import AuditAction, AuditEntry, SealedRecord
from common.exporting import csv_lines, excel_delimiter, unneutralise
from common.texts import choice_label
from employees.models import ImportRun
from notifications.campaigns.sealing import RecordKind
from notifications.campaigns.selectors import links_exported_before
from notifications.models import (
    Acknowledgement,
    AcknowledgementKind,
    Campaign,
    CampaignContent,
    DeliveryStatus,
    Recipient,
    Step,
    StepKind,
    acknowledged_late,
)

CHAIN_ROW = "chain"
# Shown for an acknowledgement, outside the hash (like ``step``): whether it
# came after the deadline, and who had exported or printed the person's link
# before it was used (a link handled by staff, not only the person's own
# mailbox). Read from the campaign's deadline and the ledger's links_export
# entries when the file is made; the hashed fields keep their meaning.
MARK_COLUMNS = ("late", "link_exported", "link_exported_by")
# Shown for an acknowledgement, outside the hash too: every answer given or
# changed, when, by whom, from what to what (the Acknowledgement rows, never
# edited; a hand correction names the DPO from its audit entry). The hashed
# fields hold only the last answer; this is its history.
HISTORY_COLUMNS = ("answer_history",)
# Files made before MARK_COLUMNS or HISTORY_COLUMNS existed still verify.
LEGACY_COLUMNS = (
    "record",
    "record_id",
    "employee_id",
    "first_name",
    "last_name",
    "email",
    "step",
    "time",
    "status",
    "content_sha256",
    "answer",
    "fields",
    "personal_salt",
    "personal_sha256",
    "record_sha256",
)
_AFTER_ANSWER = LEGACY_COLUMNS.index("answer") + 1
MARKED_COLUMNS = (
    *LEGACY_COLUMNS[:_AFTER_ANSWER],
    *MARK_COLUMNS,
    *LEGACY_COLUMNS[_AFTER_ANSWER:],
)
COLUMNS = (
    *LEGACY_COLUMNS[:_AFTER_ANSWER],
    *MARK_COLUMNS,
    *HISTORY_COLUMNS,
    *LEGACY_COLUMNS[_AFTER_ANSWER:],
)
DISPLAY_COLUMNS = (*MARK_COLUMNS, *HISTORY_COLUMNS)
YES, NO = "yes", "no"


def column_labels() -> list[str]:
    return [
        _("record"),
        _("record id"),
        _("employee id"),
        _("first name"),
        _("last name"),
        _("email"),
        _("step"),
        _("time (UTC)"),
        _("status"),
        _("content SHA-256"),
        _("answer"),
        _("late"),
        _("link exported before use"),
        _("link exported by"),
        _("answer history"),
        _("hashed fields"),
        _("personal salt"),
        _("personal SHA-256"),
        _("record SHA-256"),
    ]


def _person(kind: str, personal: dict[str, Any]) -> tuple[str, str, str]:
    if kind == RecordKind.RECIPIENT:
        return personal["first_name"], personal["last_name"], personal["email"]
    return "", "", personal["to_email"]


@dataclass(frozen=True)
class _Marks:
    """What the display columns of MARK_COLUMNS are read from."""

    deadline: datetime
    # Recipient id -> who exported or printed the link before it was used.
    handled: dict[int, list[str]]

    def of(self, record: chain.RecordHash) -> dict[str, str]:
        acknowledged_at = record.fields.get("acknowledged_at")
        if record.kind != RecordKind.RECIPIENT or acknowledged_at is None:
            return dict.fromkeys(MARK_COLUMNS, "")
        late = acknowledged_late(acknowledged_at, self.deadline)
        names = self.handled.get(record.object_id, [])
        return {
            "late": YES if late else NO,
            "link_exported": YES if names else NO,
            "link_exported_by": ", ".join(names),
        }


@dataclass(frozen=True)
class Change:
    """One answer given, changed, recorded or withdrawn."""

    at: str  # UTC, as the hashed times are written
    kind: str  # AcknowledgementKind's label
    by: str
    before: str
    after: str

    def __str__(self) -> str:
        return _("%(at)s %(kind)s by %(by)s: %(before)s → %(after)s") % {
            "at": self.at,
            "kind": self.kind,
            "by": self.by,
            "before": self.before or "—",
            "after": self.after or "—",
        }


def _correctors(campaign: Campaign) -> dict[str, list[str]]:
    """Recipient id -> who corrected it by hand, in order (the audit log)."""
    entries = AuditEntry.objects.filter(
        action=AuditAction.ACK_CORRECTION,
        target_type=Recipient._meta.label_lower,
        target_id__in=[
            str(pk)
            for pk in Recipient.objects.filter(campaign=campaign).values_list(
                "pk", flat=True
            )
        ],
    ).order_by("seq")
    found: dict[str, list[str]] = {}
    for target_id, username in entries.values_list("target_id", "username"):
        found.setdefault(target_id, []).append(username or "—")
    return found


def answer_histories(campaign: Campaign) -> dict[int, list[Change]]:
    """Recipient id -> the answer changes of its Acknowledgement rows."""
    kinds = dict(AcknowledgementKind.choices)
    by_hand = (AcknowledgementKind.CORRECTED, AcknowledgementKind.WITHDRAWN)
    correctors = _correctors(campaign)
    histories: dict[int, list[Change]] = {}
    hand_count: dict[int, int] = {}
    rows = (
        Acknowledgement.objects.filter(recipient__campaign=campaign)
        .order_by("recipient_id", "at", "id")
        .values_list("recipient_id", "kind", "at", "answer")
    )
    for recipient_id, kind, at, answer in rows.iterator(chunk_size=5000):
        changes = histories.setdefault(recipient_id, [])
        if kind in by_hand:
            # The n-th correction of a recipient is its n-th audit entry.
            done = hand_count.get(recipient_id, 0)
            hand_count[recipient_id] = done + 1
            names = correctors.get(str(recipient_id), [])
            name = names[done] if done < len(names) else "—"
            by = _("%(name)s, by hand") % {"name": name}
        else:
            by = _("the employee")
        before = changes[-1].after if changes else ""
        after = "" if kind == AcknowledgementKind.WITHDRAWN else answer
        changes.append(Change(chain._value(at), str(kinds[kind]), by, before, after))
    return histories


def _row(
    record: chain.RecordHash,
    steps: dict[int, str],
    marks: _Marks,
    histories: dict[int, list[Change]],
) -> dict[str, Any]:
    fields = {k: chain._value(v) for k, v in record.fields.items()}
    first, last, email = _person(record.kind, record.personal)
    if record.kind == RecordKind.RECIPIENT:
        step, time, status = "", fields["acknowledged_at"] or "", ""
        answer = fields["answer"]
        content = ""
    else:
        step, time, status = (
            steps.get(fields["step_id"], ""),
            fields["sent_at"] or "",
            fields["status"],
        )
        answer, content = "", fields["content_sha256"]
    return {
        "record": record.kind,
        "record_id": record.object_id,
        "employee_id": record.employee_id or "",
        "first_name": first,
        "last_name": last,
        "email": email,
        "step": step,
        "time": time,
        "status": status,
        "content_sha256": content,
        "answer": answer,
        **marks.of(record),
        "answer_history": " | ".join(map(str, histories.get(record.object_id, [])))
        if record.kind == RecordKind.RECIPIENT
        else "",
        "fields": chain.canonical(fields),
        "personal_salt": record.salt,
        "personal_sha256": record.personal_sha256,
        "record_sha256": record.record_sha256,
    }


def _step_labels(campaign: Campaign) -> dict[int, str]:
    kinds = dict(StepKind.choices)
    return {
        step.pk: f"{step.pk} {kinds.get(step.kind, step.kind)}"
        for step in Step.objects.filter(campaign=campaign)
    }


def _sort_key(row: dict[str, Any]) -> tuple:
    kind = 0 if row["record"] == RecordKind.RECIPIENT else 1
    return (row["employee_id"] or 0, kind, row["time"], row["record_id"])


@dataclass
class Evidence:
    campaign: Campaign
    rows: list[dict[str, Any]]
    entry: AuditEntry
    digest: str
    exported_at: datetime
    contents: list[CampaignContent] = field(default_factory=list)
    imports: list[ImportRun] = field(default_factory=list)
    histories: dict[int, list[Change]] = field(default_factory=dict)

    @property
    def chain_row(self) -> dict[str, Any]:
        row = dict.fromkeys(COLUMNS, "")
        row.update(
            record=CHAIN_ROW,
            record_id=self.entry.seq,
            time=chain._value(self.exported_at),
            content_sha256=self.digest,
            fields=chain.canonical(
                {"campaign": self.campaign.pk, "rows": len(self.rows)}
            ),
            record_sha256=self.entry.entry_sha256,
        )
        return row


def _imports(campaign: Campaign, until: datetime) -> list[ImportRun]:
    end = campaign.finished_at or campaign.cancelled_at or until
    return list(
        ImportRun.objects.filter(
            status=ImportRun.Status.DONE, created_at__lte=end
        ).order_by("created_at")
    )


def evidence_build(*, campaign: Campaign, actor: Any, kind: str) -> Evidence:
    """Seal, collect the rows, and record the export in the chain."""
    seal = services.records_seal(campaign_id=campaign.pk, actor=actor)
    steps = _step_labels(campaign)
    marks = _Marks(campaign.deadline, links_exported_before(campaign))
    histories = answer_histories(campaign)
    rows = sorted(
        (
            _row(record, steps, marks, histories)
            for record, _sealed in chain.records_current(campaign.pk)
        ),
        key=_sort_key,
    )
    digest = chain.export_digest(row["record_sha256"] for row in rows)
    entry = services.audit_record(
        actor=actor,
        action=AuditAction.EVIDENCE_EXPORT,
        target=campaign,
        after={
            "format": kind,
            "rows": len(rows),
            "digest": digest,
            "seal": seal.seq if seal else None,
        },
    )
    return Evidence(
        campaign=campaign,
        rows=rows,
        entry=entry,
        digest=digest,
        exported_at=entry.created_at,
        contents=list(campaign.contents.order_by("language", "version")),
        imports=_imports(campaign, entry.created_at),
        histories=histories,
    )


def evidence_csv(evidence: Evidence, *, language: str) -> Iterator[str]:
    rows = [*evidence.rows, evidence.chain_row]
    return csv_lines(
        column_labels(),
        ([row[name] for name in COLUMNS] for row in rows),
        delimiter=excel_delimiter(language),
        reversible=True,
    )


def _people(evidence: Evidence) -> list[dict[str, Any]]:
    people: dict[Any, dict[str, Any]] = {}
    for row in evidence.rows:
        person = people.setdefault(
            row["employee_id"], {"employee_id": row["employee_id"], "rows": []}
        )
        if row["record"] == RecordKind.RECIPIENT:
            person["recipient"] = row
            person["history"] = evidence.histories.get(row["record_id"], [])
        else:
            # The reader's word for the status; the hashed code stays in the
            # page's machine-readable copy, which verify_evidence reads.
            label = choice_label(DeliveryStatus, row["status"])
            person["rows"].append({**row, "status_label": label})
    return list(people.values())


def evidence_html(evidence: Evidence) -> str:
    data = [*evidence.rows, evidence.chain_row]
    return render_to_string(
        "audit/evidence.html",
        {
            "evidence": evidence,
            "campaign": evidence.campaign,
            "people": _people(evidence),
            "head": evidence.chain_row,
            # The machine-readable copy verify_evidence reads back.
            "data": data,
        },
    )


# --- verification ----------------------------------------------------------


class EvidenceError(Exception):
    """The file cannot be read as an evidence export."""


_SCRIPT_RE = re.compile(
    r'<script id="evidence-data" type="application/json">(.*?)</script>', re.S
)


def _unneutralise(value: str) -> str:
    return unneutralise(value)


_COLUMNS_BY_COUNT = {
    len(COLUMNS): COLUMNS,
    len(MARKED_COLUMNS): MARKED_COLUMNS,
    len(LEGACY_COLUMNS): LEGACY_COLUMNS,
}


def _parse_csv(text: str) -> list[dict[str, Any]]:
    text = text.lstrip("\ufeff")
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    next(reader, None)  # labels, in the exporter's language
    rows = []
    for values in reader:
        if not values:
            continue
        columns = _COLUMNS_BY_COUNT.get(len(values))
        if columns is None:
            raise EvidenceError(_("A line has the wrong number of columns."))
        row = dict.fromkeys(DISPLAY_COLUMNS, "")
        row.update(zip(columns, map(_unneutralise, values), strict=True))
        rows.append(row)
    return rows


def evidence_parse(content: bytes) -> list[dict[str, Any]]:
    text = content.decode("utf-8-sig", errors="strict")
    match = _SCRIPT_RE.search(text)
    if match:
        rows = json.loads(match.group(1))
    else:
        rows = _parse_csv(text)
    if not rows or rows[-1].get("record") != CHAIN_ROW:
        raise EvidenceError(_("The file does not end with the chain row."))
    return [{k: "" if v is None else str(v) for k, v in row.items()} for row in rows]


@dataclass
class Problem:
    line: int
    what: str

    def __str__(self) -> str:
        return _("line %(line)s: %(what)s") % {"line": self.line, "what": self.what}


def _personal_values(row: dict[str, str]) -> dict[str, str]:
    if row["record"] == RecordKind.RECIPIENT:
        return {
            "email": row["email"],
            "first_name": row["first_name"],
            "last_name": row["last_name"],
        }
    return {"to_email": row["email"]}


def _displayed(row: dict[str, str], fields: dict[str, Any]) -> dict[str, str]:
    if row["record"] == RecordKind.RECIPIENT:
        return {
            "time": fields.get("acknowledged_at") or "",
            "answer": fields.get("answer") or "",
        }
    return {
        "time": fields.get("sent_at") or "",
        "status": fields.get("status") or "",
        "content_sha256": fields.get("content_sha256") or "",
    }


def _row_problem(row: dict[str, str]) -> str:
    if row["record"] not in RecordKind.values:
        return _("unknown record type %(record)s") % {"record": row["record"]}
    try:
        fields = json.loads(row["fields"])
    except ValueError:
        return _("the hashed fields are not valid JSON")
    if str(fields.get("id")) != row["record_id"]:
        return _("the record id differs from its hashed fields")
    for name, value in _displayed(row, fields).items():
        if row[name] != str(value):
            return _("%(column)s differs from the hashed fields") % {"column": name}
    if row["personal_salt"]:
        digest = chain.personal_digest(row["personal_salt"], _personal_values(row))
        if digest != row["personal_sha256"]:
            return _("the name or address was changed")
    if (
        chain.record_digest(row["record"], fields, row["personal_sha256"])
        != row["record_sha256"]
    ):
        return _("the record hash does not match its fields")
    return ""


def _file_problems(rows: list[dict[str, str]]) -> list[Problem]:
    records, head = rows[:-1], rows[-1]
    for line, row in enumerate(records, start=2):
        problem = _row_problem(row)
        if problem:
            label = f"{row['record']} {row['record_id']}"
            return [Problem(line, f"{label}: {problem}")]
    digest = chain.export_digest(row["record_sha256"] for row in records)
    if digest != head["content_sha256"]:
        return [
            Problem(
                len(rows) + 1,
                _("rows were added, removed or reordered (digest mismatch)"),
            )
        ]
    return []


def _sealed_at(seq: int, campaign_id: int) -> dict[tuple[str, int], str]:
    """Each record's sealed hash as it stood when export ``seq`` was made."""
    found: dict[tuple[str, int], str] = {}
    sealed = (
        SealedRecord.objects.filter(campaign_id=campaign_id, seal__seq__lte=seq)
        .order_by("seal__seq", "id")
        .values_list("kind", "object_id", "record_sha256")
    )
    for kind, object_id, digest in sealed.iterator(chunk_size=5000):
        found[(kind, object_id)] = digest
    return found


def _database_problems(rows: list[dict[str, str]]) -> list[Problem]:
    head = rows[-1]
    seq = int(head["record_id"])
    entry = AuditEntry.objects.filter(seq=seq).first()
    last = len(rows) + 1
    if entry is None or entry.action != AuditAction.EVIDENCE_EXPORT:
        return [Problem(last, _("no such export in the audit log"))]
    if entry.entry_sha256 != head["record_sha256"]:
        return [Problem(last, _("the chain head differs from the audit log"))]
    if (entry.after or {}).get("digest") != head["content_sha256"]:
        return [Problem(last, _("the digest differs from the audit log"))]
    report = services.audit_verify(up_to_seq=seq)
    if not report.ok:
        return [Problem(last, str(report))]
    campaign_id = json.loads(head["fields"])["campaign"]
    live = {
        (current.kind, current.object_id): (current, sealed)
        for current, sealed in chain.records_current(campaign_id)
    }
    at_export = _sealed_at(seq, campaign_id)
    for line, row in enumerate(rows[:-1], start=2):
        kind, object_id = row["record"], int(row["record_id"])
        label = f"{kind} {object_id}"
        if at_export.get((kind, object_id)) != row["record_sha256"]:
            return [
                Problem(line, _("%(r)s differs from the sealed record") % {"r": label})
            ]
        current, latest = live.get((kind, object_id), (None, None))
        if current is None:
            return [
                Problem(line, _("%(r)s was deleted from the database") % {"r": label})
            ]
        if latest is None or current.record_sha256 != latest.record_sha256:
            return [
                Problem(
                    line,
                    _("%(r)s was edited in the database after it was sealed")
                    % {"r": label},
                )
            ]
    return []


def evidence_verify(content: bytes, *, database: bool = True) -> list[Problem]:
    """The first problem found (empty list: the file and database agree)."""
    rows = evidence_parse(content)
    return _file_problems(rows) or (_database_problems(rows) if database else [])


def evidence_filename(campaign: Campaign, kind: str) -> str:
    stamp = timezone.now().astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    return f"evidence-{campaign.reference}-{stamp}.{kind}"


__all__ = [
    "Evidence",
    "EvidenceError",
    "evidence_build",
    "evidence_csv",
    "evidence_filename",
    "evidence_html",
    "evidence_parse",
    "evidence_verify",
]
