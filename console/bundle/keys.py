"""The key that signs evidence bundles (Ed25519), its fingerprint, rotation.

The private key is ``EVIDENCE_SIGNING_KEY`` (a PEM file the operator
manages) or, when that is unset, one generated once under
``VAR_DIR/evidence-keys/`` with mode 0600. It never leaves this machine: a
bundle carries only the public key and the signature.

The fingerprint is the SHA-256 of the public key's DER SubjectPublicKeyInfo,
in hex: what ``openssl pkey -pubin -in public_key.pem -outform DER |
sha256sum`` prints, so an auditor can compute it without this project. The
DPO files it in the processing register; ``verify.py --key`` refuses a
bundle signed by another key.

Rotation: ``evidence_key --rotate`` retires the generated key (its public
half is kept under ``retired/``, the private half deleted so it can sign
nothing more) and generates a new one. Every bundle carries its own public
key, so a bundle signed before the rotation still verifies with the old
fingerprint; ``fingerprints.log`` lists every key that signed here and the
audit chain names the key of each bundle (its ``evidence_export`` entry).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from django.conf import settings
from django.utils.translation import gettext as _

GENERATED_NAME = "signing-key.pem"
LOG_NAME = "fingerprints.log"


class SigningKeyError(Exception):
    """The signing key cannot be read or made; the message says why."""


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey
    path: Path
    generated: bool

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.private.public_key())

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)


def fingerprint(public: Ed25519PublicKey) -> str:
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def key_dir() -> Path:
    return Path(settings.VAR_DIR) / "evidence-keys"


def _pem_private(pem: bytes, path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(
            _("%(path)s is not a readable unencrypted PEM private key: %(error)s")
            % {"path": path, "error": exc}
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(
            _(
                "%(path)s is not an Ed25519 key (make one with: openssl genpkey "
                "-algorithm ed25519 -out key.pem)"
            )
            % {"path": path}
        )
    return key


def _private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _generated(path: Path) -> Ed25519PrivateKey:
    """The generated key, made once: O_EXCL lets one of two workers that
    start at once create it, the other reads it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(_private_pem(key))
                out.flush()
                os.fsync(out.fileno())
            return key
    return _pem_private(path.read_bytes(), path)


def signing_key() -> SigningKey:
    configured = settings.EVIDENCE_SIGNING_KEY
    if configured:
        path = Path(configured)
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise SigningKeyError(
                _("EVIDENCE_SIGNING_KEY: cannot read %(path)s: %(error)s")
                % {"path": path, "error": exc.strerror or exc}
            ) from exc
        key = SigningKey(_pem_private(pem, path), path, generated=False)
    else:
        path = key_dir() / GENERATED_NAME
        try:
            key = SigningKey(_generated(path), path, generated=True)
        except OSError as exc:
            raise SigningKeyError(
                _("Cannot create the signing key %(path)s: %(error)s")
                % {"path": path, "error": exc.strerror or exc}
            ) from exc
    _remember(key.fingerprint, "generated" if key.generated else str(path))
    return key


def current_fingerprint() -> str:
    """The signing key's fingerprint, without creating a key ("" when none
    was generated yet or the configured one cannot be read)."""
    if not settings.EVIDENCE_SIGNING_KEY and not (key_dir() / GENERATED_NAME).exists():
        return ""
    try:
        return signing_key().fingerprint
    except SigningKeyError:
        return ""


@dataclass(frozen=True)
class KnownKey:
    since: str
    fingerprint: str
    source: str


def known_keys() -> list[KnownKey]:
    """Every key that signed here, first seen first (``fingerprints.log``)."""
    path = key_dir() / LOG_NAME
    if not path.exists():
        return []
    found = []
    for line in path.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            found.append(KnownKey(*parts))
    return found


def _remember(fp: str, source: str) -> None:
    if any(known.fingerprint == fp for known in known_keys()):
        return
    directory = key_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    with (directory / LOG_NAME).open("a") as log:
        log.write(f"{now}\t{fp}\t{source}\n")


def key_rotate() -> tuple[str, SigningKey]:
    """Retire the generated key and make a new one: (old fingerprint, new)."""
    if settings.EVIDENCE_SIGNING_KEY:
        raise SigningKeyError(
            _(
                "The key is EVIDENCE_SIGNING_KEY, managed outside this "
                "application: to rotate, point it at a new Ed25519 key."
            )
        )
    old = signing_key()
    retired = key_dir() / "retired"
    retired.mkdir(parents=True, exist_ok=True, mode=0o700)
    (retired / f"{old.fingerprint}.pub.pem").write_bytes(old.public_pem)
    old.path.unlink()
    return old.fingerprint, signing_key()
