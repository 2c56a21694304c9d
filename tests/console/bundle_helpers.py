"""What the bundle tests share: a real local TSA, building a bundle, running
the shipped verify.py as an auditor would, and rewriting a ZIP to tamper
with it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.core.management import call_command


@dataclass
class Verified:
    code: int
    out: str

    @property
    def ok(self) -> bool:
        return self.code == 0


def bundle_build(campaign, out: Path, *options: str) -> Path:
    call_command("evidence_bundle", str(campaign.pk), str(out), *options)
    return out


def auditor_verify(
    bundle: Path,
    *args: str,
    python: list[str] | None = None,
    env: dict[str, str] | None = None,
    script: bytes | None = None,
) -> Verified:
    """verify.py taken out of the bundle, run in a temporary folder holding
    only it and the ZIP, with no PYTHONPATH, no Django settings, nothing of
    this project: what an auditor has."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="auditor-") as work:
        folder = Path(work)
        if script is None:
            with zipfile.ZipFile(bundle) as archive:
                script = archive.read("verify.py")
        (folder / "verify.py").write_bytes(script)
        (folder / "bundle.zip").write_bytes(bundle.read_bytes())
        clean = env or {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        done = subprocess.run(
            [*(python or [sys.executable]), "verify.py", "bundle.zip", *args],
            cwd=folder,
            env=clean,
            capture_output=True,
            text=True,
            timeout=120,
        )
    return Verified(done.returncode, done.stdout + done.stderr)


def zip_rewrite(
    source: Path,
    target: Path,
    *,
    change: dict[str, Callable[[bytes], bytes | None]] | None = None,
    add: dict[str, bytes] | None = None,
) -> Path:
    """A copy of ``source`` with members changed (None: removed) or added."""
    change = change or {}
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = old.read(info.filename)
            if info.filename in change:
                data = change[info.filename](data)
                if data is None:
                    continue
            new.writestr(info.filename, data, compress_type=zipfile.ZIP_DEFLATED)
        for name, data in (add or {}).items():
            new.writestr(name, data)
    return target


def lines_edit(edit: Callable[[list[bytes]], list[bytes]]):
    def change(data: bytes) -> bytes:
        return b"".join(line + b"\n" for line in edit(data.splitlines()))

    return change
