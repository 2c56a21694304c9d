"""Building one campaign's evidence bundle (the package's __init__ says what
it holds and why).

The order matters: seal the records into the chain, stream them into the
ZIP while their digest is computed, append the ``evidence_export`` entry
that names that digest and the signing key, write the chain up to that entry
(the bundle's chain head), then the manifest, its signature and, when an
authority is configured, its timestamp. Nothing is held in memory but a few
chunks of rows; the file is written beside its final name and renamed only
when complete, so a failure leaves no half-written bundle.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.utils import timezone

from audit import chain, services
from audit.models import AuditAction
from console.bundle import keys, records, timestamping
from console.bundle.writer import BundleZip
from notifications.models import Campaign, CampaignContent, Delivery

FORMAT = "staff-notify-evidence-bundle"
FORMAT_VERSION = 1
HERE = Path(__file__).resolve().parent
PROGRESS_EVERY = 5000

Progress = Callable[[int, int], None]


@dataclass
class Built:
    campaign_id: int
    fingerprint: str
    export_seq: int
    counts: dict[str, int]
    sha256: str = ""
    size: int = 0
    timestamp: timestamping.Stamp | None = None
    manifest: dict[str, Any] = field(default_factory=dict)


@cache
def software_version() -> str:
    try:
        with (Path(settings.BASE_DIR) / "pyproject.toml").open("rb") as file:
            project = tomllib.load(file)["project"]
        return f"{project['name']} {project['version']}"
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "staff-notify"


def _content_json(content: CampaignContent) -> bytes:
    data = {
        "id": content.pk,
        "language": content.language,
        "version": content.version,
        "subject": content.subject,
        "body_text": content.body_text,
        "body_html": content.body_html,
        "page_text": content.page_text,
        "sha256": content.sha256,
        "is_current": content.is_current,
        "created_at": chain._value(content.created_at),
    }
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True).encode()


class _Stale(Exception):
    """Records not sealed as they stand: seal them (``ids``; None: all)."""

    def __init__(self, ids: dict[str, list[int]] | None) -> None:
        self.ids = ids


# More unsealed records than this and the first pass stops: the campaign is
# sealed whole (a first bundle), not by the list of ids.
STALE_IDS_MAX = 5000


class _Records:
    """Writes the two record files, counting and digesting as it goes.

    With ``check``, a record whose hash is not its latest seal's is noted and
    raises _Stale at the end (or at once past STALE_IDS_MAX): the bundle
    must only hold records whose hashes are in the chain, and a bundle of an
    already sealed campaign is then built in one pass instead of two (the
    ledger's records_seal would hash every record once more).
    """

    def __init__(self, bundle: BundleZip, total: int, progress, check: bool):
        self.bundle = bundle
        self.total = total
        self.progress = progress
        self.check = check
        self.stale: dict[str, list[int]] = {}
        self.stale_count = 0
        self.done = 0
        self.digest = hashlib.sha256()
        self.counts = {"recipients": 0, "messages": 0, "acknowledged": 0}
        self.counts["acknowledgement_events"] = 0

    def _hashed(self, record: records.Hashed) -> None:
        if self.check and not record.sealed:
            self.stale.setdefault(record.kind, []).append(record.object_id)
            self.stale_count += 1
            if self.stale_count > STALE_IDS_MAX:
                raise _Stale(None)
        if self.done:
            self.digest.update(b"\n")
        self.digest.update(record.record_sha256.encode())
        self.done += 1
        if self.progress and self.done % PROGRESS_EVERY == 0:
            self.progress(self.done, self.total)

    def write(self, campaign: Campaign, pseudonymise: bool) -> None:
        member = self.bundle.member("records/recipients.jsonl", large=True)
        lines = records.recipient_lines(campaign, pseudonymise=pseudonymise)
        for record, line in lines:
            member.line(line)
            self._hashed(record)
            self.counts["recipients"] += 1
            self.counts["acknowledged"] += record.row["acknowledged_at"] is not None
            self.counts["acknowledgement_events"] += len(line["acknowledgements"])
        self.bundle.add(member)
        member = self.bundle.member("records/messages.jsonl", large=True)
        for record, line in records.message_lines(campaign, pseudonymise=pseudonymise):
            member.line(line)
            self._hashed(record)
            self.counts["messages"] += 1
        self.bundle.add(member)
        if self.stale:
            raise _Stale(self.stale)


def _chain(bundle: BundleZip, campaign: Campaign, head: int, pseudonymise: bool):
    member = bundle.member("audit/chain.jsonl", large=True)
    first = None
    for line in records.chain_lines(campaign, head, pseudonymise=pseudonymise):
        first = line["seq"] if first is None else first
        member.line(line)
    bundle.add(member)
    return first, member.lines


def _period(campaign: Campaign, built_at: datetime) -> dict[str, str]:
    start = campaign.launched_at or campaign.created_at
    end = campaign.finished_at or campaign.cancelled_at or built_at
    return {"from": chain._value(start), "to": chain._value(end)}


def _campaign(campaign: Campaign) -> dict[str, Any]:
    return {
        "id": campaign.pk,
        "reference": str(campaign.reference),
        "name": campaign.name,
        "status": campaign.status,
        "deadline": chain._value(campaign.deadline),
        "launched_at": chain._value(campaign.launched_at),
        "finished_at": chain._value(campaign.finished_at),
        "cancelled_at": chain._value(campaign.cancelled_at),
    }


def _readme(manifest: dict[str, Any]) -> bytes:
    text = (HERE / "README.txt").read_text(encoding="utf-8")
    for name, value in {
        "CAMPAIGN": manifest["campaign"]["name"],
        "FINGERPRINT": manifest["key"]["fingerprint"],
        "BUILT_AT": manifest["built_at"],
    }.items():
        text = text.replace("{" + name + "}", str(value))
    return text.encode()


def bundle_write(
    *,
    campaign: Campaign,
    target: IO[bytes],
    actor: Any,
    progress: Progress | None = None,
    timestamped: bool = True,
) -> Built:
    """Write the bundle of ``campaign`` to the binary file ``target``.

    Raises keys.SigningKeyError or timestamping.TimestampError (clear
    messages) before or while writing; the caller discards ``target``.
    """
    key = keys.signing_key()
    url = settings.EVIDENCE_TSA_URL if timestamped else ""
    pseudonymise = settings.EVIDENCE_BUNDLE_PSEUDONYMISE
    total = (
        campaign.recipients.count()
        + Delivery.objects.filter(step__campaign=campaign).count()
    )
    seal = None
    for check in (True, False):
        bundle = BundleZip(target)
        try:
            written = _Records(bundle, total, progress, check)
            written.write(campaign, pseudonymise)
            return _rest_write(bundle, campaign, actor, key, url, seal, written)
        except _Stale as stale:
            bundle.abandon()
            target.seek(0)
            target.truncate()
            seal = _seal(campaign, actor, stale.ids)
        except BaseException:
            bundle.abandon()
            raise
    raise AssertionError("the second pass does not check")  # pragma: no cover


def _seal(campaign: Campaign, actor: Any, ids: dict[str, list[int]] | None):
    """Seal what changed: the listed ids, or every record (streamed by the
    ledger, one entry for the whole campaign)."""
    return services.records_seal(campaign_id=campaign.pk, actor=actor, ids=ids)


def _rest_write(bundle, campaign, actor, key, url, seal, written) -> Built:
    pseudonymise = settings.EVIDENCE_BUNDLE_PSEUDONYMISE
    contents = campaign.contents.order_by("language", "version")
    for content in contents.iterator():
        name = f"content/{content.language}-v{content.version}.json"
        bundle.put(name, _content_json(content))
    personal_data = "pseudonymised" if pseudonymise else "clear"
    digest = written.digest.hexdigest()
    entry = services.audit_record(
        actor=actor,
        action=AuditAction.EVIDENCE_EXPORT,
        target=campaign,
        after={
            "format": "bundle",
            "rows": written.done,
            "digest": digest,
            "seal": seal.seq if seal else None,
            "key": key.fingerprint,
            "personal_data": personal_data,
        },
    )
    first_seq, chain_entries = _chain(bundle, campaign, entry.seq, pseudonymise)
    counts = {**written.counts, "contents": contents.count()}
    counts["chain_entries"] = chain_entries
    bundle.put("public_key.pem", key.public_pem)
    bundle.put("verify.py", (HERE / "verify.py").read_bytes())
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "software": software_version(),
        "campaign": _campaign(campaign),
        "period": _period(campaign, entry.created_at),
        "built_at": chain._value(entry.created_at),
        "built_by": entry.username,
        "personal_data": personal_data,
        "counts": counts,
        "records_digest": digest,
        "chain": {
            "from_seq": first_seq,
            "head_seq": entry.seq,
            "head_sha256": entry.entry_sha256,
        },
        "key": {"algorithm": "Ed25519", "fingerprint": key.fingerprint},
        "timestamp": {"authority_url": url} if url else None,
    }
    bundle.put("README.txt", _readme(manifest))
    manifest["files"] = bundle.files
    stamp = _sign(bundle, manifest, key, url)
    bundle.close()
    if written.progress:
        written.progress(written.done, written.total)
    return Built(
        campaign_id=campaign.pk,
        fingerprint=key.fingerprint,
        export_seq=entry.seq,
        counts=counts,
        timestamp=stamp,
        manifest=manifest,
    )


def _sign(
    bundle: BundleZip, manifest: dict[str, Any], key: keys.SigningKey, url: str
) -> timestamping.Stamp | None:
    """The manifest, its signature and, with an authority, its token."""
    data = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True)
    data_bytes = data.encode() + b"\n"
    stamp = None
    if url:
        stamp = timestamping.timestamp(
            data_bytes, url=url, timeout=settings.EVIDENCE_TSA_TIMEOUT
        )
    bundle.put("manifest.json", data_bytes, listed=False)
    bundle.put("manifest.sig", key.sign(data_bytes), listed=False)
    if stamp:
        bundle.put("timestamp.tsr", stamp.reply, listed=False)
    return stamp


def bundle_to_path(path: Path, **kwargs: Any) -> Built:
    """``bundle_write`` into ``path``, complete or not at all."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("wb") as target:
            built = bundle_write(target=target, **kwargs)
            target.flush()
            os.fsync(target.fileno())
        sha = hashlib.sha256()
        with partial.open("rb") as done:
            while chunk := done.read(1 << 20):
                sha.update(chunk)
        built.sha256, built.size = sha.hexdigest(), partial.stat().st_size
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return built


def bundle_filename(campaign: Campaign, at: datetime | None = None) -> str:
    stamp = (at or timezone.now()).astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    return f"evidence-bundle-{campaign.reference}-{stamp}.zip"
