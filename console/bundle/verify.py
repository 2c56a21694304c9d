#!/usr/bin/env python3
"""Check an evidence bundle on its own: python3 verify.py BUNDLE.zip
[--key FINGERPRINT] [--tsa-ca CA.pem]

Needs Python 3.10+ and nothing of the application that made the bundle. The
signature is checked with the `cryptography` package, or with `openssl` when
it is missing; the timestamp with `rfc3161-client`, or with `openssl`. Exit
0 when the bundle is intact (a short report follows), 1 naming every check
that failed, 2 when the file cannot be read as a bundle. README.txt in the
bundle says the same in French and English, and how to check the signature
and the timestamp with openssl alone.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "staff-notify-evidence-bundle"
UNLISTED = ("manifest.json", "manifest.sig", "timestamp.tsr")
FIRST_PREV = "0" * 64
SHA256_OID = "2.16.840.1.101.3.4.2.1"


class Unreadable(Exception):
    """Not a bundle at all (exit 2)."""


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def fail(self, what: str) -> None:
        self.problems.append(what)


def canonical(data: Any) -> str:
    """The project's canonical JSON: sorted keys, no spaces, UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()


def record_digest(kind: str, fields: dict[str, Any], personal_sha256: str) -> str:
    return sha256_hex(
        canonical({"kind": kind, "fields": fields, "personal": personal_sha256})
    )


def normalise_fingerprint(text: str) -> str:
    text = text.strip().lower()
    if text.startswith("sha256:"):
        text = text[len("sha256:") :]
    return re.sub(r"[^0-9a-f]", "", text)


# --- files ------------------------------------------------------------------


def member_digest(bundle: zipfile.ZipFile, name: str) -> tuple[str, int]:
    sha, size = hashlib.sha256(), 0
    with bundle.open(name) as member:
        while chunk := member.read(1 << 20):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


def check_files(bundle: zipfile.ZipFile, manifest: dict, report: Report) -> set[str]:
    """Each listed file present with its size and SHA-256; nothing extra.
    Returns the names present and listed."""
    listed = manifest.get("files") or {}
    names = [info.filename for info in bundle.infolist() if not info.is_dir()]
    present = set(names)
    for name in sorted({n for n in names if names.count(n) > 1}):
        # A ZIP may hold two members of one name; readers pick either.
        report.fail(f"file {name} appears twice in the ZIP")
    for name in sorted(present - set(listed) - set(UNLISTED)):
        report.fail(f"extra file {name}: not listed in the manifest")
    good = set()
    for name, entry in sorted(listed.items()):
        if name not in present:
            report.fail(f"missing file {name}: listed in the manifest")
            continue
        digest, size = member_digest(bundle, name)
        if digest != entry.get("sha256") or size != entry.get("size"):
            report.fail(f"file {name}: its SHA-256 differs from the manifest")
        good.add(name)
    return good


# --- signature --------------------------------------------------------------


def pem_der(pem: bytes) -> bytes:
    body = b"".join(
        line.strip() for line in pem.splitlines() if line and not line.startswith(b"-")
    )
    return base64.b64decode(body)


def signature_ok(public_pem: bytes, data: bytes, signature: bytes) -> bool:
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import (
            Ed25519PublicKey,
        )
        from cryptography.hazmat.primitives.serialization import load_pem_public_key
    except ImportError:
        return _openssl_signature_ok(public_pem, data, signature)
    key = load_pem_public_key(public_pem)
    if not isinstance(key, Ed25519PublicKey):
        return False
    try:
        key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def _openssl_signature_ok(public_pem: bytes, data: bytes, signature: bytes) -> bool:
    if not shutil.which("openssl"):
        raise Unreadable(
            "checking the signature needs the `cryptography` package or openssl"
        )
    with tempfile.TemporaryDirectory() as tmp:
        paths = {"key": public_pem, "data": data, "sig": signature}
        for name, content in paths.items():
            (Path(tmp) / name).write_bytes(content)
        done = subprocess.run(
            ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "key",
             "-rawin", "-in", "data", "-sigfile", "sig"],
            cwd=tmp, capture_output=True,
        )  # fmt: skip
    return done.returncode == 0


def check_signature(
    bundle: zipfile.ZipFile, manifest_bytes: bytes, manifest: dict, args, report
) -> str:
    names = set(bundle.namelist())
    if "manifest.sig" not in names or "public_key.pem" not in names:
        report.fail("bad signature: manifest.sig or public_key.pem is missing")
        return ""
    public_pem = bundle.read("public_key.pem")
    try:
        fingerprint = sha256_hex(pem_der(public_pem))
    except ValueError:
        report.fail("bad signature: public_key.pem is not a PEM public key")
        return ""
    if not signature_ok(public_pem, manifest_bytes, bundle.read("manifest.sig")):
        report.fail("bad signature: manifest.json was not signed by public_key.pem")
    if normalise_fingerprint((manifest.get("key") or {}).get("fingerprint", "")) != (
        fingerprint
    ):
        report.fail("bad signature: the manifest names another key than public_key.pem")
    if args.key and normalise_fingerprint(args.key) != fingerprint:
        report.fail(
            f"another key: the bundle is signed by {fingerprint}, "
            f"not by the expected {normalise_fingerprint(args.key)}"
        )
    return fingerprint


# --- records ----------------------------------------------------------------


def json_lines(bundle: zipfile.ZipFile, name: str, entry: dict, report: Report):
    """Each line of a JSON Lines member as (number, dict), checking that the
    lines follow each other (n, prev) up to the manifest's last line."""
    expected, prev = 1, FIRST_PREV
    with bundle.open(name) as member:
        for raw in member:
            data = raw.rstrip(b"\n")
            try:
                line = json.loads(data)
                number = line.get("n")
            except (ValueError, AttributeError):
                report.fail(f"{name} line {expected}: record line altered (not JSON)")
                line, number = {}, expected
            if isinstance(number, int) and number > expected:
                report.fail(
                    f"{name}: record line {expected} dropped (the next is {number})"
                )
                expected = number
            elif number != expected:
                report.fail(f"{name} line {expected}: numbered {number} (moved)")
            elif line and line.get("prev") != prev:
                report.fail(f"{name} line {expected - 1}: record line altered")
            prev = sha256_hex(data)
            yield expected, line
            expected += 1
    count = expected - 1
    if count < entry.get("lines", 0):
        report.fail(
            f"{name}: record lines dropped at the end ({count} of {entry['lines']})"
        )
    elif count > entry.get("lines", 0):
        report.fail(f"{name}: {count - entry.get('lines', 0)} record lines added")
    elif prev != entry.get("last_line_sha256", FIRST_PREV):
        report.fail(f"{name} line {count}: record line altered")


def record_problem(line: dict) -> str:
    fields = line.get("fields")
    if not isinstance(fields, dict) or fields.get("id") != line.get("id"):
        return "its fields are missing or name another record"
    salt, personal = line.get("personal_salt"), line.get("personal")
    if salt and isinstance(personal, dict):
        if sha256_hex(salt + canonical(personal)) != line.get("personal_sha256"):
            return "the name or address was changed"
    digest = record_digest(
        line.get("record", ""), fields, line.get("personal_sha256", "")
    )
    if digest != line.get("record_sha256"):
        return "its fields do not match its record hash"
    return ""


@dataclass
class Figures:
    recipients: int = 0
    messages: int = 0
    acknowledged: int = 0
    digest: Any = field(default_factory=hashlib.sha256)
    rows: int = 0
    # (content id, hash or None) -> the first line naming it: bounded by
    # the number of content versions, not of records.
    content_refs: dict = field(default_factory=dict)
    contents: dict = field(default_factory=dict)

    def hashed(self, record_sha256: str) -> None:
        if self.rows:
            self.digest.update(b"\n")
        self.digest.update(str(record_sha256).encode())
        self.rows += 1


def check_records(bundle, manifest: dict, present: set, report: Report) -> Figures:
    figures = Figures()
    files = manifest.get("files") or {}
    kinds = {
        "records/recipients.jsonl": "recipient",
        "records/messages.jsonl": "delivery",
    }
    for name, kind in kinds.items():
        if name not in present:
            continue
        for number, line in json_lines(bundle, name, files[name], report):
            if line.get("record") != kind:
                report.fail(f"{name} line {number}: not a {kind} record")
                continue
            problem = record_problem(line)
            if problem:
                report.fail(f"{name} line {number}: record line altered: {problem}")
            figures.hashed(line.get("record_sha256", ""))
            fields = line.get("fields") or {}
            if kind == "recipient":
                figures.recipients += 1
                figures.acknowledged += fields.get("acknowledged_at") is not None
                seen = fields.get("content_version_seen_id")
                if seen is not None:
                    figures.content_refs.setdefault(
                        (seen, None), f"{name} line {number}"
                    )
            else:
                figures.messages += 1
                if fields.get("content_id") is not None:
                    key = (fields["content_id"], fields.get("content_sha256"))
                    figures.content_refs.setdefault(key, f"{name} line {number}")
    if figures.digest.hexdigest() != manifest.get("records_digest"):
        report.fail("records: their digest differs from the manifest's records_digest")
    return figures


def check_contents(bundle, present: set, figures: Figures, report: Report) -> None:
    """Each content version hashes to its sha256; each message names one."""
    for name in sorted(n for n in present if n.startswith("content/")):
        try:
            content = json.loads(bundle.read(name))
        except ValueError:
            report.fail(f"{name}: not valid JSON")
            continue
        payload = {"language": content.get("language")}
        for part in ("subject", "body_text", "body_html", "page_text"):
            payload[part] = content.get(part) or ""
        digest = sha256_hex(json.dumps(payload, sort_keys=True, ensure_ascii=False))
        if digest != content.get("sha256"):
            report.fail(f"{name}: the text does not match its SHA-256")
        figures.contents[content.get("id")] = content.get("sha256")
    for (content_id, digest), where in sorted(figures.content_refs.items(), key=str):
        if content_id not in figures.contents:
            report.fail(f"{where}: content version {content_id} is not in the bundle")
        elif digest is not None and figures.contents[content_id] != digest:
            report.fail(
                f"{where}: the content hash differs from content version {content_id}"
            )


# --- the audit chain ----------------------------------------------------------

ENTRY_FIELDS = (
    "seq", "created_at", "user_id", "username", "action",
    "target_type", "target_id", "subject_employee_id",
)  # fmt: skip
ENTRY_PERSONAL = ("target_repr", "before", "after", "reason")


def entry_problem(line: dict) -> str:
    if line.get("campaign"):
        salt = line.get("personal_salt")
        if salt:
            personal = {name: line.get(name) for name in ENTRY_PERSONAL}
            if sha256_hex(salt + canonical(personal)) != line.get("personal_sha256"):
                return "its object, before/after or reason was changed"
        fields = {name: line.get(name) for name in ENTRY_FIELDS}
        if record_digest("audit", fields, line.get("personal_sha256", "")) != line.get(
            "record_sha256"
        ):
            return "its fields were changed"
    link = sha256_hex(str(line.get("prev_sha256")) + str(line.get("record_sha256")))
    if link != line.get("entry_sha256"):
        return "its chain hash was changed"
    return ""


def check_chain(bundle, manifest: dict, present: set, report: Report) -> None:
    name = "audit/chain.jsonl"
    if name not in present:
        return
    head = manifest.get("chain") or {}
    expected_seq, prev, last = head.get("from_seq"), None, None
    for _number, line in json_lines(bundle, name, manifest["files"][name], report):
        seq = line.get("seq")
        if seq != expected_seq:
            report.fail(
                f"audit chain: entry #{expected_seq} is missing (gap before #{seq})"
            )
        elif prev is not None and line.get("prev_sha256") != prev:
            report.fail(f"audit chain: entry #{seq} does not follow the one before")
        problem = entry_problem(line)
        if problem:
            report.fail(f"audit chain: entry #{seq} altered: {problem}")
        prev, last = line.get("entry_sha256"), line
        expected_seq = seq + 1 if isinstance(seq, int) else expected_seq
    if last is None or (last.get("seq"), last.get("entry_sha256")) != (
        head.get("head_seq"),
        head.get("head_sha256"),
    ):
        report.fail("audit chain: it does not end at the manifest's chain head")
        return
    after = last.get("after") or {}
    if last.get("action") != "evidence_export" or after.get("digest") != manifest.get(
        "records_digest"
    ):
        report.fail("audit chain: its head is not this bundle's export entry")


# --- timestamp ----------------------------------------------------------------


@dataclass
class Token:
    time: str
    authority: str
    imprint: bytes
    algorithm: str


def _token_rfc3161(reply: bytes) -> Token:
    from rfc3161_client import decode_timestamp_response

    info = decode_timestamp_response(reply).tst_info
    try:
        name = info.name
        value = getattr(name, "value", name)
        authority = (
            value.rfc4514_string() if hasattr(value, "rfc4514_string") else str(value)
        )
    except ValueError:
        authority = ""
    return Token(
        time=info.gen_time.isoformat(),
        authority=authority,
        imprint=info.message_imprint.message,
        algorithm=info.message_imprint.hash_algorithm.dotted_string,
    )


def _token_openssl(reply: bytes) -> Token:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "t.tsr").write_bytes(reply)
        done = subprocess.run(
            ["openssl", "ts", "-reply", "-in", "t.tsr", "-text"],
            cwd=tmp, capture_output=True, text=True,
        )  # fmt: skip
    if done.returncode:
        raise ValueError(done.stderr.strip())
    text = done.stdout
    hexes = re.findall(r"^\s+[0-9a-f]{4} - ((?:[0-9a-f]{2}[ -]){1,16})", text, re.M)
    imprint = bytes.fromhex(
        "".join(h.replace("-", " ") for h in hexes).replace(" ", "")
    )
    found = {
        k: re.search(rf"^{k}: (.*)$", text, re.M)
        for k in ("Time stamp", "TSA", "Hash Algorithm")
    }
    get = {k: (m.group(1).strip() if m else "") for k, m in found.items()}
    algorithm = (
        SHA256_OID if get["Hash Algorithm"] == "sha256" else get["Hash Algorithm"]
    )
    return Token(get["Time stamp"], get["TSA"], imprint, algorithm)


def read_token(reply: bytes) -> Token:
    try:
        import rfc3161_client  # noqa: F401
    except ImportError:
        if not shutil.which("openssl"):
            raise Unreadable(
                "reading the timestamp needs rfc3161-client or openssl"
            ) from None
        return _token_openssl(reply)
    return _token_rfc3161(reply)


def chains_to(reply: bytes, manifest_bytes: bytes, ca_pem: bytes) -> str:
    """'' when the token's signature chains to ``ca_pem``, else why not."""
    try:
        import cryptography.x509
        from rfc3161_client import (
            VerificationError,
            VerifierBuilder,
            decode_timestamp_response,
        )
    except ImportError:
        return _openssl_chains_to(reply, manifest_bytes, ca_pem)
    try:
        roots = cryptography.x509.load_pem_x509_certificates(ca_pem)
        builder = VerifierBuilder()
        for root in roots:
            builder = builder.add_root_certificate(root)
        builder.build().verify_message(decode_timestamp_response(reply), manifest_bytes)
    except (VerificationError, ValueError) as exc:
        return str(exc) or type(exc).__name__
    return ""


def _openssl_chains_to(reply: bytes, manifest_bytes: bytes, ca_pem: bytes) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in (
            ("t.tsr", reply),
            ("m", manifest_bytes),
            ("ca.pem", ca_pem),
        ):
            (Path(tmp) / name).write_bytes(content)
        done = subprocess.run(
            ["openssl", "ts", "-verify", "-in", "t.tsr", "-data", "m", "-CAfile", "ca.pem"],
            cwd=tmp, capture_output=True, text=True,
        )  # fmt: skip
    return "" if done.returncode == 0 else (done.stderr.strip() or done.stdout.strip())


def check_timestamp(bundle, manifest_bytes: bytes, manifest: dict, args, report):
    names = set(bundle.namelist())
    expected = manifest.get("timestamp")
    if "timestamp.tsr" not in names:
        if expected:
            report.fail(
                "timestamp missing: the manifest says the bundle was timestamped"
            )
        elif args.tsa_ca:
            report.fail(
                "timestamp missing: the bundle is not timestamped (--tsa-ca given)"
            )
        else:
            report.notes.append("Timestamp: none (the bundle is not timestamped)")
        return
    reply = bundle.read("timestamp.tsr")
    try:
        token = read_token(reply)
    except Unreadable:
        raise
    except Exception as exc:  # a damaged token: any parser error
        report.fail(f"timestamp: timestamp.tsr cannot be read ({exc})")
        return
    if (
        token.algorithm != SHA256_OID
        or token.imprint != hashlib.sha256(manifest_bytes).digest()
    ):
        report.fail("timestamp mismatch: the token is not about this manifest.json")
        return
    if args.tsa_ca:
        why = chains_to(reply, manifest_bytes, Path(args.tsa_ca).read_bytes())
        if why:
            report.fail(f"timestamp does not chain to {args.tsa_ca}: {why}")
            return
        checked = "authority checked against " + str(args.tsa_ca)
    else:
        checked = "authority NOT checked: pass --tsa-ca CA.pem"
    report.notes.append(
        f"Timestamp: {token.time} by {token.authority or '?'} ({checked})"
    )


# --- main -------------------------------------------------------------------------


def verify(path: Path, args) -> Report:
    report = Report()
    try:
        bundle = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise Unreadable(f"{path}: not a readable ZIP file ({exc})") from exc
    with bundle:
        try:
            manifest_bytes = bundle.read("manifest.json")
            manifest = json.loads(manifest_bytes)
        except KeyError:
            raise Unreadable(
                "manifest.json is missing: not an evidence bundle"
            ) from None
        except ValueError as exc:
            raise Unreadable(f"manifest.json is not valid JSON ({exc})") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise Unreadable("manifest.json does not describe an evidence bundle")
        fingerprint = check_signature(bundle, manifest_bytes, manifest, args, report)
        present = check_files(bundle, manifest, report)
        figures = check_records(bundle, manifest, present, report)
        check_contents(bundle, present, figures, report)
        check_chain(bundle, manifest, present, report)
        check_timestamp(bundle, manifest_bytes, manifest, args, report)
    counts = manifest.get("counts") or {}
    for label, found in (
        ("recipients", figures.recipients),
        ("messages", figures.messages),
        ("acknowledged", figures.acknowledged),
    ):
        if counts.get(label) != found:
            report.fail(
                f"records: {found} {label}, the manifest says {counts.get(label)}"
            )
    campaign, period = manifest.get("campaign") or {}, manifest.get("period") or {}
    report.notes[:0] = [
        f"Campaign: {campaign.get('name')} (id {campaign.get('id')}, {campaign.get('reference')})",
        f"Period: {period.get('from')} to {period.get('to')}",
        f"Recipients: {figures.recipients}; messages: {figures.messages}; "
        f"acknowledgements: {figures.acknowledged}",
        f"Signed by key {fingerprint} on {manifest.get('built_at')}",
    ]
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check an evidence bundle on its own.")
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--key", help="the expected key fingerprint (SHA-256, hex)")
    parser.add_argument("--tsa-ca", help="the time-stamping authority's CA (PEM)")
    args = parser.parse_args(argv)
    try:
        report = verify(args.bundle, args)
    except Unreadable as exc:
        print(f"NOT VERIFIED: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a crafted file: say so, never a traceback
        print(
            f"NOT VERIFIED: {args.bundle} cannot be read as a bundle "
            f"({type(exc).__name__}: {exc})",
            file=sys.stderr,
        )
        return 2
    if report.problems:
        print(f"NOT VERIFIED: {args.bundle}")
        for problem in report.problems:
            print(f"  FAILED: {problem}")
        return 1
    print(f"VERIFIED: {args.bundle}")
    for note in report.notes:
        print(f"  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
