"""Reading an import file into rows of text cells: CSV (UTF-8, UTF-16 or
Windows-1252, delimiter guessed from the first line) or the first sheet of an
XLSX, told apart by their first bytes (``read_table``). Also
``ImportFileError``, for a file that cannot be used at all, and
``open_path``."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, Any

from django.utils.translation import gettext as _

# A legitimate staff file has short cells; the csv module's own limit would
# raise in the middle of a file. Bigger cells are reported as row errors.
CSV_FIELD_LIMIT = 1_000_000
_SNIFF_BYTES = 64 * 1024


class ImportFileError(Exception):
    """The file as a whole cannot be used (exit status 2)."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        if self.line:
            return _("line %(line)s: %(message)s") % {
                "line": self.line,
                "message": self.message,
            }
        return self.message


def _line_of_offset(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _check_decodes(binary: IO[bytes], encoding: str) -> tuple[bool, int, int]:
    """Decode the whole stream incrementally: (ok, line of first bad byte, lines)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    binary.seek(0)
    lines = 0
    while chunk := binary.read(1 << 20):
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            return False, lines + _line_of_offset(chunk, exc.start), lines
        lines += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False, lines + 1, lines
    return True, 0, lines + 1


def _detect_kind(head: bytes) -> str:
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"%PDF"):
        raise ImportFileError(
            _(
                "This is a PDF document, not a staff list. Export the list as CSV or XLSX."
            )
        )
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(
            _(
                "This is an old Excel (.xls) file. Save it as .xlsx or CSV and import that."
            )
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "csv"
    if b"\x00" in head:
        raise ImportFileError(
            _("This is not a text file (it contains binary data). Use CSV or XLSX.")
        )
    return "csv"


def _detect_encoding(binary: IO[bytes], head: bytes) -> tuple[str, int]:
    """UTF-16 (with BOM), UTF-8 (with or without BOM) or Windows-1252."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8-sig", "cp1252"]
    bad_line = 0
    for encoding in candidates:
        ok, bad_line, lines = _check_decodes(binary, encoding)
        if ok:
            return encoding, lines
    raise ImportFileError(
        _("The file's characters cannot be read (expected UTF-8 or Windows-1252)."),
        line=bad_line,
    )


def _detect_delimiter(first_line: str) -> str:
    counts = {delim: first_line.count(delim) for delim in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_rows(
    binary: IO[bytes], head: bytes
) -> tuple[Iterator[tuple[int, list[str]]], int]:
    encoding, line_count = _detect_encoding(binary, head)
    lines = head.decode(encoding, errors="ignore").splitlines()
    first_line = next((line for line in lines if line.strip()), "")
    binary.seek(0)
    text = io.TextIOWrapper(binary, encoding=encoding, newline="")
    csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.reader(text, delimiter=_detect_delimiter(first_line))

    def rows() -> Iterator[tuple[int, list[str]]]:
        start = 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ImportFileError(
                    _("The CSV cannot be read: %(reason)s") % {"reason": exc},
                    line=reader.line_num,
                ) from None
            if "".join(cells).strip():
                yield start, cells
            start = reader.line_num + 1

    return rows(), line_count


def _cell_text(value: Any) -> str:
    """An XLSX cell as text: numbers without '.0', dates as ISO dates."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return (
            value.date().isoformat()
            if value.time() == time(0)
            else value.isoformat(sep=" ")
        )
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)


def _xlsx_rows(binary: IO[bytes]) -> tuple[Iterator[tuple[int, list[str]]], int]:
    from openpyxl import load_workbook

    binary.seek(0)
    try:
        workbook = load_workbook(binary, read_only=True, data_only=True)
        sheet = workbook.worksheets[0]
        total = sheet.max_row or 0
    except Exception as exc:  # openpyxl raises many kinds on a broken file
        raise ImportFileError(
            _(
                "The XLSX file cannot be opened (%(reason)s). Save it again from Excel or export CSV."
            )
            % {"reason": exc.__class__.__name__}
        ) from None

    def rows() -> Iterator[tuple[int, list[str]]]:
        line = 0
        try:
            for line, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                cells = [_cell_text(value) for value in values]
                if "".join(cells).strip():
                    yield line, cells
        except Exception as exc:  # zip, XML and openpyxl errors of a damaged file
            raise ImportFileError(
                _("The XLSX file is damaged (%(reason)s).")
                % {"reason": exc.__class__.__name__},
                line=line + 1,
            ) from None
        finally:
            workbook.close()

    return rows(), total


def read_table(binary: IO[bytes]) -> tuple[Iterator[tuple[int, list[str]]], int]:
    """(iterator of (line number, cells), estimated number of lines)."""
    binary.seek(0)
    head = binary.read(_SNIFF_BYTES)
    if not head.strip():
        raise ImportFileError(_("The file is empty."))
    if _detect_kind(head) == "xlsx":
        return _xlsx_rows(binary)
    return _csv_rows(binary, head)


def open_path(path: str | Path) -> IO[bytes]:
    """Open a file for import, turning OS errors into ImportFileError."""
    try:
        return open(path, "rb")  # the caller closes it
    except OSError as exc:
        raise ImportFileError(
            _("Cannot open %(path)s: %(reason)s")
            % {"path": path, "reason": exc.strerror}
        ) from None
