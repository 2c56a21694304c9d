"""Writing the bundle's ZIP one member at a time, each hashed as it is
written, so memory stays flat whatever the campaign's size.

``zipfile`` streams a member opened for writing to the file (deflated on the
way); ``Member`` counts its bytes and SHA-256 for the manifest. A JSON Lines
member also numbers its lines and gives each the SHA-256 of the line before
(``prev``): a dropped, inserted or edited line breaks that chain at the spot,
so verify.py names the line, and the last line's hash is in the signed
manifest, so no line escapes it.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from typing import IO, Any

# The "prev" of a file's first line.
FIRST_PREV = "0" * 64
WRITE_CHUNK = 256 * 1024


_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def line_json(data: dict[str, Any]) -> bytes:
    """One JSON Lines record: UTF-8, no spaces. verify.py hashes the bytes
    as written, so key order need not be canonical."""
    return _encode(data).encode()


class Member:
    def __init__(self, archive: zipfile.ZipFile, name: str, *, large: bool) -> None:
        self.name = name
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        self._out: IO[bytes] = archive.open(info, "w", force_zip64=large)
        self._sha = hashlib.sha256()
        self.size = 0
        self.lines = 0
        self.last_line_sha256 = FIRST_PREV
        # Lines are gathered and written by the quarter megabyte: one
        # deflate call per line cost more than the deflating itself.
        self._pending: list[bytes] = []
        self._pending_size = 0

    def write(self, data: bytes) -> None:
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= WRITE_CHUNK:
            self._flush()

    def _flush(self) -> None:
        data = b"".join(self._pending)
        self._pending, self._pending_size = [], 0
        self._out.write(data)
        self._sha.update(data)
        self.size += len(data)

    def line(self, record: dict[str, Any]) -> None:
        """Append ``record`` as line n+1, chained to line n."""
        self.lines += 1
        data = line_json({"n": self.lines, "prev": self.last_line_sha256, **record})
        self.last_line_sha256 = hashlib.sha256(data).hexdigest()
        self.write(data + b"\n")

    def close(self) -> dict[str, Any]:
        self._flush()
        self._out.close()
        entry: dict[str, Any] = {"sha256": self._sha.hexdigest(), "size": self.size}
        if self.lines:
            entry.update(lines=self.lines, last_line_sha256=self.last_line_sha256)
        return entry


class BundleZip:
    """The archive and the manifest's ``files`` table, filled as members close."""

    def __init__(self, target: IO[bytes]) -> None:
        self.archive = zipfile.ZipFile(
            target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1
        )
        self.files: dict[str, dict[str, Any]] = {}
        self._open: Member | None = None

    def member(self, name: str, *, large: bool = False) -> Member:
        self._open = Member(self.archive, name, large=large)
        return self._open

    def add(self, member: Member) -> None:
        self.files[member.name] = member.close()

    def put(self, name: str, data: bytes, *, listed: bool = True) -> None:
        member = self.member(name)
        member.write(data)
        entry = member.close()
        if listed:
            self.files[name] = entry

    def close(self) -> None:
        self.archive.close()

    def abandon(self) -> None:
        """After a failure: close what is open (the caller deletes the file)
        so that nothing writes to it later."""
        for close in (self._open.close if self._open else None, self.archive.close):
            if close is None:
                continue
            try:
                close()
            except (ValueError, OSError):
                pass
