"""What a staff file may expand to, and the checks that refuse more without
ever holding the file, or one of its parts, in memory.

A 311 KB XLSX can hold a 300 MB shared string, a 16 MB one two million rows:
the size of the upload says little about the work. So the limits are on what
the file expands to (``Limits``, from the ``IMPORT_MAX_*`` settings):

- an XLSX's parts are first judged by the zip's central directory (their
  declared uncompressed sizes, ``xlsx_check``), before openpyxl opens
  anything; then every XML part is streamed once through ``_XmlGuard``,
  64 KB at a time, which refuses a DTD (entity bombs), a text longer than a
  cell may be, a row with more cells than allowed and more rows than
  allowed. Only a file that passed is given to openpyxl, through
  ``GuardedZipFile``, whose streams stop at the declared sizes in case the
  central directory lied;
- a CSV is its own uncompressed size; its lines are read with a length
  limit (``Limits.line_chars``) and counted before any row is parsed.

``expanded_size`` is what decides between the request and a worker.

Why our own guard: defusedxml (installed, so openpyxl uses it) stops entity
expansion but not a 300 MB text node or a row of a million cells, and
openpyxl builds each shared string and each row in memory before we see it.
The guard is byte counting at C speed (``bytes.find``, ``re.split``), a few
milliseconds per megabyte, where a second XML parse would double the work.
"""

from __future__ import annotations

import re
import struct
import zipfile
from dataclasses import dataclass, replace
from typing import IO, Any

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from employees.importing.errors import ImportFileError

_CHUNK = 64 * 1024
# Excel's sheet has 1,048,576 rows, the header one of them: an XLSX with
# more was not written by a spreadsheet.
EXCEL_MAX_ROWS = 1_048_575
# An XLSX has a few dozen parts; a zip of thousands is not a workbook, and
# zipfile keeps one ZipInfo per entry in memory.
_MAX_PARTS = 10_000
# Bytes of XML text per character of a cell: a character written as an
# entity (&#x1F600;) takes up to 10 bytes. Only a bound on memory; the
# exact length is checked once the cell is decoded.
_XML_BYTES_PER_CHAR = 10
_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_ROW = re.compile(rb"<(?:\w+:)?row[\s/>]")
_CELL = re.compile(rb"<(?:\w+:)?c[\s/>]")


@dataclass(frozen=True)
class Limits:
    uncompressed_bytes: int
    rows: int
    columns: int
    cell_chars: int

    def for_xlsx(self) -> Limits:
        return replace(self, rows=min(self.rows, EXCEL_MAX_ROWS))

    @property
    def line_chars(self) -> int:
        """Longest CSV line: one cell at the limit, or every column well
        filled, whichever is more."""
        return max(4 * self.cell_chars, 256 * self.columns)

    @property
    def text_bytes(self) -> int:
        return _XML_BYTES_PER_CHAR * self.cell_chars + 64


def current_limits() -> Limits:
    return Limits(
        uncompressed_bytes=settings.IMPORT_MAX_UNCOMPRESSED_BYTES,
        rows=settings.IMPORT_MAX_ROWS,
        columns=settings.IMPORT_MAX_COLUMNS,
        cell_chars=settings.IMPORT_MAX_CELL_CHARS,
    )


def too_big(size: int, limits: Limits) -> ImportFileError:
    return ImportFileError(
        _(
            "The file is too big: %(size)s once uncompressed, over the limit of "
            "%(limit)s (IMPORT_MAX_UNCOMPRESSED_BYTES)."
        )
        % {
            "size": filesizeformat(size),
            "limit": filesizeformat(limits.uncompressed_bytes),
        }
    )


def too_many_rows(limits: Limits, *, line: int | None = None) -> ImportFileError:
    return ImportFileError(
        _("The file has more than %(limit)s rows (IMPORT_MAX_ROWS).")
        % {"limit": number_format(limits.rows, force_grouping=True)},
        line=line,
    )


def too_many_columns(limits: Limits, *, line: int | None = None) -> ImportFileError:
    return ImportFileError(
        _("A row has more than %(limit)s columns (IMPORT_MAX_COLUMNS).")
        % {"limit": number_format(limits.columns, force_grouping=True)},
        line=line,
    )


def cell_too_long(limits: Limits, *, line: int | None = None) -> ImportFileError:
    return ImportFileError(
        _("A cell is longer than %(limit)s characters (IMPORT_MAX_CELL_CHARS).")
        % {"limit": number_format(limits.cell_chars, force_grouping=True)},
        line=line,
    )


def _file_size(binary: IO[bytes]) -> int:
    binary.seek(0, 2)
    size = binary.tell()
    binary.seek(0)
    return size


def _declared_entries(binary: IO[bytes], size: int) -> int | None:
    """Entries the end-of-central-directory record announces, read before
    zipfile builds one object per entry; None when no record is found."""
    tail = min(size, 65_536 + 22)
    binary.seek(size - tail)
    data = binary.read(tail)
    binary.seek(0)
    at = data.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(data):
        return None
    return struct.unpack("<H", data[at + 10 : at + 12])[0]


def _open_zip(binary: IO[bytes], limits: Limits) -> GuardedZipFile:
    size = _file_size(binary)
    entries = _declared_entries(binary, size)
    if entries is not None and entries >= min(_MAX_PARTS, 0xFFFF):
        raise ImportFileError(
            _("The XLSX file has too many parts (%(count)s); it is not a workbook.")
            % {"count": entries}
        )
    try:
        archive = GuardedZipFile(binary)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise ImportFileError(
            _(
                "The XLSX file cannot be opened (it is not a valid zip archive). "
                "Save it again from Excel or export CSV."
            )
        ) from None
    archive.budget = limits.uncompressed_bytes
    return archive


def _declared_size(archive: zipfile.ZipFile, limits: Limits) -> int:
    infos = archive.infolist()
    if len(infos) > _MAX_PARTS:
        raise ImportFileError(
            _("The XLSX file has too many parts (%(count)s); it is not a workbook.")
            % {"count": len(infos)}
        )
    total = sum(info.file_size for info in infos)
    if total > limits.uncompressed_bytes:
        raise too_big(total, limits)
    return total


def expanded_size(binary: IO[bytes], limits: Limits | None = None) -> int:
    """What the file expands to: the declared uncompressed size of an XLSX's
    parts, a CSV's own size. Reads only the zip's directory; raises
    ImportFileError when over IMPORT_MAX_UNCOMPRESSED_BYTES."""
    limits = limits or current_limits()
    binary.seek(0)
    head = binary.read(4)
    if head != b"PK\x03\x04":
        size = _file_size(binary)
        if size > limits.uncompressed_bytes:
            raise too_big(size, limits)
        return size
    with _open_zip(binary, limits) as archive:
        return _declared_size(archive, limits)


class _XmlGuard:
    """Watches one XML part go by, chunk after chunk, in constant memory.

    Counts bytes of text since the last '<' (the longest text node bounds the
    longest cell), ``<c>`` elements since the last ``<row>`` (cells in a row)
    and ``<row>`` elements; refuses a DTD. Namespace prefixes (``<x:c>``) are
    counted too. A token cut between two chunks may be missed once, which
    only loosens a bound by one."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.text_run = 0
        self.row_cells = 0
        self.rows = 0
        self.tail = b""

    def feed(self, chunk: bytes) -> None:
        data = self.tail + chunk
        self.tail = data[-16:]
        if _DTD.search(data):
            raise ImportFileError(
                _(
                    "The XLSX file declares an XML document type (DTD), which "
                    "Excel never writes; it is refused."
                )
            )
        self._text(chunk)
        self._rows(chunk)

    def _text(self, chunk: bytes) -> None:
        first = chunk.find(b"<")
        if first < 0:
            self.text_run += len(chunk)
        else:
            self.text_run += first
            if self.text_run <= self.limits.text_bytes:
                self.text_run = len(chunk) - chunk.rfind(b"<") - 1
        # A run inside one chunk is shorter than the chunk, and _scan_part
        # reads at most half of text_bytes at a time.
        if self.text_run > self.limits.text_bytes:
            raise cell_too_long(self.limits)

    def _rows(self, chunk: bytes) -> None:
        pieces = _ROW.split(chunk)
        self.rows += len(pieces) - 1
        if self.rows > self.limits.rows + 1:
            raise too_many_rows(self.limits)
        # Rows wholly inside a 64 KB chunk are small; only the row running
        # across chunks can grow without bound.
        self.row_cells += len(_CELL.findall(pieces[0]))
        if len(pieces) > 1:
            self._check_cells()
            self.row_cells = len(_CELL.findall(pieces[-1]))
        self._check_cells()

    def _check_cells(self) -> None:
        if self.row_cells > self.limits.columns:
            raise too_many_columns(self.limits)


def _chunk_size(limits: Limits) -> int:
    return max(1024, min(_CHUNK, limits.text_bytes // 2))


def _scan_part(archive: GuardedZipFile, info: zipfile.ZipInfo, limits: Limits) -> None:
    guard = _XmlGuard(limits)
    size = _chunk_size(limits)
    with archive.open(info) as stream:
        while chunk := stream.read(size):
            guard.feed(chunk)


def xlsx_check(binary: IO[bytes], limits: Limits) -> None:
    """Judge an XLSX by its central directory, then stream every XML part
    once through ``_XmlGuard``. Raises ImportFileError; reads nothing whole."""
    limits = limits.for_xlsx()
    with _open_zip(binary, limits) as archive:
        _declared_size(archive, limits)
        for info in archive.infolist():
            if info.filename.endswith((".xml", ".rels", ".vml")):
                try:
                    _scan_part(archive, info, limits)
                except ImportFileError:
                    raise
                except Exception as exc:  # zlib, CRC, unsupported compression
                    raise ImportFileError(
                        _("The XLSX file is damaged (%(reason)s).")
                        % {"reason": exc.__class__.__name__}
                    ) from None
    binary.seek(0)


class GuardedStream:
    """A part of the zip as openpyxl reads it: never more than the size the
    central directory declared (zipfile stops there too, this says it
    plainly), nor more than the file's total allowance."""

    def __init__(self, raw: IO[bytes], declared: int, archive: GuardedZipFile) -> None:
        self.raw = raw
        self.left = declared
        self.archive = archive

    def _count(self, data: bytes) -> bytes:
        self.left -= len(data)
        self.archive.budget -= len(data)
        if self.left < 0 or self.archive.budget < 0:
            raise ImportFileError(
                _("The XLSX file is damaged (a part is bigger than it says).")
            )
        return data

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while chunk := self.raw.read(_CHUNK):
                parts.append(self._count(chunk))
            return b"".join(parts)
        return self._count(self.raw.read(size))

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> GuardedStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class GuardedZipFile(zipfile.ZipFile):
    """The archive openpyxl is given: each part it opens is a GuardedStream."""

    budget: int = 0

    def open(self, name: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        raw = super().open(name, mode, *args, **kwargs)
        if mode != "r":
            return raw
        info = name if isinstance(name, zipfile.ZipInfo) else self.getinfo(name)
        return GuardedStream(raw, info.file_size, self)


def xlsx_open(binary: IO[bytes], limits: Limits) -> Any:
    """The workbook, read-only, once ``xlsx_check`` passed; openpyxl reads
    it through a GuardedZipFile."""
    from openpyxl.reader.excel import ExcelReader

    xlsx_check(binary, limits)
    reader = ExcelReader(binary, read_only=True, data_only=True)
    reader.archive.close()
    reader.archive = _open_zip(binary, limits)
    reader.valid_files = reader.archive.namelist()
    reader.read()
    return reader.wb
