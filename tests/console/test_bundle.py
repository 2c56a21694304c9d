"""Evidence bundles an auditor verifies alone: built against a real local
time-stamping authority, checked by the shipped verify.py in a clean
subprocess, and each kind of tampering named."""

from __future__ import annotations

import json
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import override_settings
from django.utils import translation

from audit.models import AuditAction, AuditEntry
from notifications.models import Acknowledgement, AcknowledgementKind
from tests.console.bundle_helpers import (
    auditor_verify,
    bundle_build,
    lines_edit,
    zip_rewrite,
)
from tests.evidence_factories import LAUNCH, campaign_sent
from tests.services import require
from tests.tsa import LocalTsa, closed_port_url, openssl_available

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def tsa():
    require(openssl_available(), "openssl is not on the PATH (apt-get install openssl)")
    with LocalTsa() as authority:
        yield authority


@pytest.fixture(scope="module")
def other_tsa():
    with LocalTsa(name="Another TSA") as authority:
        yield authority


@pytest.fixture
def evidence_settings(settings, tmp_path, tsa):
    settings.VAR_DIR = tmp_path / "var"
    settings.EVIDENCE_TSA_URL = tsa.url
    settings.EVIDENCE_SIGNING_KEY = ""
    return settings


def _acknowledged(sent):
    Acknowledgement.objects.create(
        recipient=sent.recipients[0],
        kind=AcknowledgementKind.FIRST,
        at=LAUNCH,
        answer="opted_out",
        content=sent.deliveries[0].content,
    )
    return sent


@pytest.fixture
def sent(evidence_settings):
    return _acknowledged(campaign_sent())


@pytest.fixture
def bundle(sent, tmp_path) -> Path:
    return bundle_build(sent.campaign, tmp_path / "bundle.zip")


@dataclass(frozen=True)
class Built:
    path: Path
    fingerprint: str


@pytest.fixture(scope="module")
def built(django_db_setup, django_db_blocker, tsa, tmp_path_factory) -> Built:
    """One bundle for the tests that only read or tamper with the file: built
    once in a transaction rolled back at once (the database stays clean)."""
    folder = tmp_path_factory.mktemp("built")
    configured = override_settings(
        VAR_DIR=folder / "var", EVIDENCE_TSA_URL=tsa.url, EVIDENCE_SIGNING_KEY=""
    )
    with configured, translation.override("en"), django_db_blocker.unblock():
        with transaction.atomic():
            sent = campaign_sent()
            _acknowledged(sent)
            path = bundle_build(sent.campaign, folder / "bundle.zip")
            fingerprint = _fingerprint()
            transaction.set_rollback(True)
    return Built(path, fingerprint)


def _fingerprint() -> str:
    from io import StringIO

    out = StringIO()
    call_command("evidence_key", stdout=out)
    return out.getvalue().strip().splitlines()[-1]


def test_a_bundle_verifies_alone_with_its_key_and_the_authority(bundle, sent, tsa):
    result = auditor_verify(
        bundle, "--key", _fingerprint(), "--tsa-ca", str(tsa.ca_path)
    )
    assert result.ok, result.out
    assert "VERIFIED" in result.out
    assert sent.campaign.name in result.out
    assert "Recipients: 3; messages: 3; acknowledgements: 1" in result.out
    assert "CN=Test TSA" in result.out and "authority checked" in result.out


def test_the_bundle_holds_records_contents_and_the_chain_head(bundle, sent):
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
        recipients = [
            json.loads(line)
            for line in archive.read("records/recipients.jsonl").splitlines()
        ]
        messages = [
            json.loads(line)
            for line in archive.read("records/messages.jsonl").splitlines()
        ]
        chain = [
            json.loads(line) for line in archive.read("audit/chain.jsonl").splitlines()
        ]
        everything = b"".join(archive.read(name) for name in names)
    assert {
        "manifest.sig",
        "public_key.pem",
        "timestamp.tsr",
        "verify.py",
        "README.txt",
    } <= names
    first = next(r for r in recipients if r["id"] == sent.recipients[0].pk)
    assert first["fields"]["answer"] == "opted_out"
    assert first["personal"]["email"] == sent.recipients[0].email
    assert first["acknowledgements"][0]["by"] == "employee"
    delivery = next(m for m in messages if m["id"] == sent.deliveries[1].pk)
    assert delivery["fields"]["content_sha256"] == sent.deliveries[1].content_sha256
    content = sent.deliveries[1].content
    assert f"content/{content.language}-v{content.version}.json" in names
    export = AuditEntry.objects.filter(action=AuditAction.EVIDENCE_EXPORT).latest("seq")
    assert chain[-1]["seq"] == export.seq == manifest["chain"]["head_seq"]
    assert manifest["counts"]["recipients"] == 3
    assert manifest["software"].startswith("staff-notify")
    # The private key never leaves the server.
    key_file = Path(manifest_key_path := str(_key_path()))
    assert key_file.stat().st_mode & 0o077 == 0, manifest_key_path
    private = serialization.load_pem_private_key(key_file.read_bytes(), None)
    raw = private.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    assert key_file.read_bytes() not in everything and raw not in everything


def _key_path() -> Path:
    from console.bundle.keys import GENERATED_NAME, key_dir

    return key_dir() / GENERATED_NAME


def _recipient_answer(lines: list[bytes]) -> list[bytes]:
    # The hashed answer, changed in place; its record hash left as it was.
    line = json.loads(lines[0])
    line["fields"]["answer"] = "kept"
    lines[0] = json.dumps(line, separators=(",", ":")).encode()
    return lines


def _history_answer(lines: list[bytes]) -> list[bytes]:
    # Outside the record hash: only the line chain sees it.
    lines[0] = lines[0].replace(b'"by":"employee"', b'"by":"someone else"', 1)
    return lines


def _manifest_edit(data: bytes) -> bytes:
    manifest = json.loads(data)
    manifest["counts"]["acknowledged"] += 1
    return json.dumps(manifest, indent=2, sort_keys=True).encode()


TAMPERING = {
    "a file's hash": (
        {"README.txt": lambda data: data + b"\nnothing to see\n"},
        "file README.txt: its SHA-256 differs from the manifest",
    ),
    "a missing file": (
        {"audit/chain.jsonl": lambda data: None},
        "missing file audit/chain.jsonl",
    ),
    "a record line dropped": (
        {"records/messages.jsonl": lines_edit(lambda lines: [lines[0], *lines[2:]])},
        "records/messages.jsonl: record line 2 dropped",
    ),
    "a record line altered": (
        {"records/recipients.jsonl": lines_edit(_recipient_answer)},
        "records/recipients.jsonl line 1: record line altered: its fields do not match",
    ),
    "history outside the hash altered": (
        {"records/recipients.jsonl": lines_edit(_history_answer)},
        "records/recipients.jsonl line 1: record line altered",
    ),
    "a chain entry removed": (
        {"audit/chain.jsonl": lines_edit(lambda lines: [lines[0], *lines[2:]])},
        "audit chain: entry #",
    ),
    "the manifest edited": ({"manifest.json": _manifest_edit}, "bad signature"),
    "the signature replaced": (
        {"manifest.sig": lambda data: bytes(64)},
        "bad signature: manifest.json was not signed",
    ),
    "the timestamp removed": (
        {"timestamp.tsr": lambda data: None},
        "timestamp missing: the manifest says the bundle was timestamped",
    ),
}


@pytest.mark.parametrize("kind", TAMPERING)
def test_each_kind_of_tampering_is_named(built, tmp_path, kind):
    change, expected = TAMPERING[kind]
    tampered = zip_rewrite(built.path, tmp_path / "tampered.zip", change=change)
    result = auditor_verify(tampered)
    assert result.code == 1, result.out
    assert expected in result.out, result.out


def test_an_extra_file_is_named(built, tmp_path):
    tampered = zip_rewrite(
        built.path, tmp_path / "t.zip", add={"records/extra.jsonl": b"{}\n"}
    )
    result = auditor_verify(tampered)
    assert result.code == 1 and "extra file records/extra.jsonl" in result.out


def test_a_second_member_of_the_same_name_is_named(built, tmp_path):
    with pytest.warns(UserWarning, match="Duplicate name"):
        tampered = zip_rewrite(built.path, tmp_path / "t.zip", add={"README.txt": b"x"})
    result = auditor_verify(tampered)
    assert result.code == 1 and "file README.txt appears twice" in result.out


def test_a_bundle_signed_by_another_key_is_refused(built, tmp_path):
    """A complete forgery: records kept, manifest re-made and signed with
    another key. Only the registered fingerprint tells it apart."""
    import hashlib

    from console.bundle.keys import fingerprint

    other = Ed25519PrivateKey.generate()
    forger = fingerprint(other.public_key())
    public = other.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with zipfile.ZipFile(built.path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    manifest["key"]["fingerprint"] = forger
    manifest["timestamp"] = None
    manifest["files"]["public_key.pem"] = {
        "sha256": hashlib.sha256(public).hexdigest(),
        "size": len(public),
    }
    data = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
    forged = zip_rewrite(
        built.path,
        tmp_path / "forged.zip",
        change={
            "manifest.json": lambda _: data,
            "manifest.sig": lambda _: other.sign(data),
            "public_key.pem": lambda _: public,
            "timestamp.tsr": lambda _: None,
        },
    )
    assert auditor_verify(forged).ok  # consistent in itself…
    result = auditor_verify(forged, "--key", built.fingerprint)
    assert result.code == 1
    assert f"another key: the bundle is signed by {forger}" in result.out
    assert "bad signature" not in result.out


def test_a_timestamp_over_other_data_is_a_mismatch(built, tmp_path, tsa):
    from console.bundle.timestamping import timestamp

    other = timestamp(b"another manifest", url=tsa.url, timeout=10).reply
    tampered = zip_rewrite(
        built.path, tmp_path / "t.zip", change={"timestamp.tsr": lambda _: other}
    )
    result = auditor_verify(tampered, "--tsa-ca", str(tsa.ca_path))
    assert result.code == 1
    assert "timestamp mismatch: the token is not about this manifest.json" in result.out


def test_a_timestamp_from_another_authority_does_not_chain(built, other_tsa):
    result = auditor_verify(built.path, "--tsa-ca", str(other_tsa.ca_path))
    assert result.code == 1
    assert f"timestamp does not chain to {other_tsa.ca_path}" in result.out


def test_openssl_alone_checks_signature_and_timestamp(built, tsa, tmp_path):
    """A Python with no packages (-S: no site-packages, so no cryptography
    nor rfc3161-client): verify.py checks the Ed25519 signature and the
    RFC 3161 token with openssl."""
    bare = [sys.executable, "-I", "-S"]
    args = ("--key", built.fingerprint, "--tsa-ca", str(tsa.ca_path))
    result = auditor_verify(built.path, *args, python=bare)
    assert result.ok, result.out
    assert "authority checked" in result.out
    forged = zip_rewrite(
        built.path, tmp_path / "f.zip", change={"manifest.sig": lambda _: bytes(64)}
    )
    failed = auditor_verify(forged, python=bare)
    assert failed.code == 1 and "bad signature" in failed.out


def test_a_tsa_that_is_down_fails_the_build_and_writes_nothing(
    sent, tmp_path, settings
):
    settings.EVIDENCE_TSA_URL = closed_port_url()
    out = tmp_path / "bundle.zip"
    with pytest.raises(CommandError) as failure:
        bundle_build(sent.campaign, out)
    assert "did not answer" in str(failure.value)
    assert settings.EVIDENCE_TSA_URL in str(failure.value)
    assert list(tmp_path.glob("bundle.zip*")) == []


def test_without_timestamp_on_purpose_it_says_so(sent, tmp_path, tsa):
    out = bundle_build(sent.campaign, tmp_path / "b.zip", "--no-timestamp")
    result = auditor_verify(out)
    assert result.ok and "Timestamp: none (the bundle is not timestamped)" in result.out
    demanded = auditor_verify(out, "--tsa-ca", str(tsa.ca_path))
    assert demanded.code == 1 and "timestamp missing" in demanded.out


def test_rotation_keeps_old_bundles_verifiable_with_the_old_fingerprint(
    sent, tmp_path, bundle
):
    old = _fingerprint()
    call_command("evidence_key", "--rotate", stdout=open(tmp_path / "out", "w"))
    new = _fingerprint()
    assert new != old
    assert auditor_verify(bundle, "--key", old).ok
    later = bundle_build(sent.campaign, tmp_path / "later.zip")
    assert auditor_verify(later, "--key", new).ok
    refused = auditor_verify(later, "--key", old)
    assert refused.code == 1 and "another key" in refused.out
    listing = (tmp_path / "out").read_text()
    assert old in listing
    assert not _key_path().with_name("retired").joinpath(f"{old}.pem").exists()
    assert _key_path().with_name("retired").joinpath(f"{old}.pub.pem").exists()


def test_a_configured_key_is_used_and_its_fingerprint_is_openssls(
    sent, tmp_path, evidence_settings
):
    import hashlib
    import subprocess

    key = tmp_path / "ed25519.pem"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(key)], check=True
    )
    evidence_settings.EVIDENCE_SIGNING_KEY = str(key)
    der = subprocess.run(
        ["openssl", "pkey", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    assert _fingerprint() == hashlib.sha256(der).hexdigest()
    out = bundle_build(sent.campaign, tmp_path / "b.zip")
    assert auditor_verify(out, "--key", hashlib.sha256(der).hexdigest()).ok
    with pytest.raises(CommandError, match="rotate, point it at a new Ed25519 key"):
        call_command("evidence_key", "--rotate")


def test_a_key_of_another_kind_is_refused_clearly(sent, tmp_path, evidence_settings):
    import subprocess

    key = tmp_path / "rsa.pem"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "rsa", "-out", str(key)], check=True
    )
    evidence_settings.EVIDENCE_SIGNING_KEY = str(key)
    with pytest.raises(CommandError, match="is not an Ed25519 key"):
        bundle_build(sent.campaign, tmp_path / "b.zip")
    assert not (tmp_path / "b.zip").exists()


def test_pseudonymised_bundles_hold_no_names_and_still_verify(
    sent, tmp_path, evidence_settings
):
    evidence_settings.EVIDENCE_BUNDLE_PSEUDONYMISE = True
    out = bundle_build(sent.campaign, tmp_path / "b.zip")
    with zipfile.ZipFile(out) as archive:
        everything = b"".join(archive.read(n) for n in archive.namelist())
    for recipient in sent.recipients:
        assert recipient.email.encode() not in everything
        assert recipient.last_name.encode() not in everything
    result = auditor_verify(out)
    assert result.ok, result.out


def test_the_bundles_record_hashes_are_the_ledgers(sent, tmp_path):
    """The bundle hashes records with its own encoder (speed): its hashes
    must be the ledger's, so that each record is the one sealed."""
    from audit import chain
    from console.bundle import records

    bundle_build(sent.campaign, tmp_path / "b.zip")  # seals everything
    for kind in ("recipient", "delivery"):
        ours = {r.object_id: r for r in records.record_hashes(kind, sent.campaign.pk)}
        theirs = list(chain.records_current(sent.campaign.pk, ids={kind: None}))
        assert len(ours) == len(theirs) == 3
        for current, sealed in theirs:
            assert ours[current.object_id].record_sha256 == current.record_sha256
            assert current.record_sha256 == sealed.record_sha256
            assert ours[current.object_id].sealed


def test_a_change_after_the_last_seal_is_sealed_before_it_is_bundled(sent, tmp_path):
    from django.utils import timezone

    from audit.models import SealedRecord
    from notifications.models import Recipient

    bundle_build(sent.campaign, tmp_path / "a.zip")
    seals = AuditEntry.objects.filter(action=AuditAction.SEAL).count()
    again = bundle_build(sent.campaign, tmp_path / "b.zip")  # nothing changed
    assert AuditEntry.objects.filter(action=AuditAction.SEAL).count() == seals
    assert auditor_verify(again).ok
    late = sent.recipients[2]
    Recipient.objects.filter(pk=late.pk).update(
        acknowledged_at=timezone.now(), answer="opted_out"
    )
    changed = bundle_build(sent.campaign, tmp_path / "c.zip")
    assert AuditEntry.objects.filter(action=AuditAction.SEAL).count() == seals + 1
    sealed = SealedRecord.objects.filter(kind="recipient", object_id=late.pk).latest(
        "id"
    )
    with zipfile.ZipFile(changed) as archive:
        lines = [
            json.loads(x) for x in archive.read("records/recipients.jsonl").splitlines()
        ]
    line = next(x for x in lines if x["id"] == late.pk)
    assert line["record_sha256"] == sealed.record_sha256
    assert line["fields"]["answer"] == "opted_out"
    assert auditor_verify(changed).ok


def test_a_campaign_never_sealed_is_sealed_whole_in_one_entry(
    sent, tmp_path, monkeypatch
):
    """Past STALE_IDS_MAX unsealed records the first pass stops and the
    ledger seals the whole campaign; the bundle then holds the sealed hashes."""
    from audit.models import SealedRecord
    from console.bundle import building

    monkeypatch.setattr(building, "STALE_IDS_MAX", 1)
    out = bundle_build(sent.campaign, tmp_path / "b.zip")
    seal = AuditEntry.objects.get(action=AuditAction.SEAL)
    assert seal.after["counts"] == {"delivery": 3, "recipient": 3}
    with zipfile.ZipFile(out) as archive:
        hashes = {
            json.loads(line)["record_sha256"]
            for name in ("records/recipients.jsonl", "records/messages.jsonl")
            for line in archive.read(name).splitlines()
        }
    assert hashes == set(SealedRecord.objects.values_list("record_sha256", flat=True))
    assert auditor_verify(out).ok


def test_an_erased_person_stays_verifiable_by_digest_alone(sent, tmp_path):
    from console.gdpr import person_erase

    erased = sent.recipients[1]
    person_erase(employee=erased.employee, actor=None, reason="request of 1 Dec")
    out = bundle_build(sent.campaign, tmp_path / "b.zip")
    with zipfile.ZipFile(out) as archive:
        everything = b"".join(archive.read(n) for n in archive.namelist())
        lines = [
            json.loads(x) for x in archive.read("records/recipients.jsonl").splitlines()
        ]
    assert erased.email.encode() not in everything
    line = next(x for x in lines if x["id"] == erased.pk)
    assert line["personal_salt"] == "" and line["personal_sha256"]
    result = auditor_verify(out)
    assert result.ok, result.out


def test_a_file_that_is_no_bundle_is_refused_without_a_traceback(built, tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    with zipfile.ZipFile(built.path) as archive:
        script = archive.read("verify.py")
    assert auditor_verify(junk, script=script).code == 2
    mangled = zip_rewrite(
        built.path, tmp_path / "m.zip", change={"manifest.json": lambda _: b"[1, 2]"}
    )
    result = auditor_verify(mangled)
    assert result.code == 2 and "Traceback" not in result.out
    odd = zip_rewrite(
        built.path,
        tmp_path / "o.zip",
        change={
            "manifest.json": lambda data: data.replace(b'"files": {', b'"files": [{', 1)
        },
    )
    result = auditor_verify(odd)
    assert result.code == 2 and "Traceback" not in result.out
