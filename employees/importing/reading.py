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

from django.utils.formats import number_format
from django.utils.translation import gettext as _

from employees.importing.errors import ImportFileError
from employees.importing.limits import (
    Limits,
    cell_too_long,
    current_limits,
    expanded_size,
    too_many_columns,
    too_many_rows,
    xlsx_open,
)

_SNIFF_BYTES = 64 * 1024


def _line_of_offset(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _check_decodes(binary: IO[bytes], encoding: str) -> tuple[bool, int, int]:
    """Decode the whole stream incrementally: (ok, line of first bad byte, lines)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    binary.seek(0)
    lines = returns = 0
    while chunk := binary.read(1 << 20):
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            return False, lines + _line_of_offset(chunk, exc.start), lines
        lines += chunk.count(b"\n")
        returns += chunk.count(b"\r")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False, lines + 1, lines
    # Old Mac files end their lines with CR alone; the row limit counts them.
    return True, 0, max(lines, returns) + 1


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


class _BoundedLines:
    """The CSV's physical lines for csv.reader, a row (one line, or several
    when a quoted cell holds line breaks) never longer than
    ``limits.line_chars``: a 10 MB line, or a million quoted cells that each
    hold a line break, are refused after their first characters, not held
    whole. ``rows`` resets ``row_chars`` at each row csv.reader returns (it
    reads no further than the end of the row)."""

    def __init__(self, text: IO[str], limits: Limits) -> None:
        self.readline = text.readline
        self.limit = limits.line_chars
        self.number = 0
        self.row_chars = 0

    def __iter__(self) -> _BoundedLines:
        return self

    def __next__(self) -> str:
        line = self.readline(self.limit + 1)
        if not line:
            raise StopIteration
        self.number += 1
        self.row_chars += len(line)
        if self.row_chars > self.limit:
            raise ImportFileError(
                _(
                    "The line is longer than %(limit)s characters; it is not a "
                    "staff list row (IMPORT_MAX_CELL_CHARS, IMPORT_MAX_COLUMNS)."
                )
                % {"limit": number_format(self.limit, force_grouping=True)},
                line=self.number,
            )
        return line


def _raise_field_limit(limits: Limits) -> None:
    """csv's field limit is the process's: raised to our row limit, never
    lowered (other readers may need more); the cell limit is checked here."""
    if csv.field_size_limit() < limits.line_chars:
        csv.field_size_limit(limits.line_chars)


def _csv_rows(
    binary: IO[bytes], head: bytes, limits: Limits
) -> tuple[Iterator[tuple[int, list[str]]], int]:
    encoding, line_count = _detect_encoding(binary, head)
    # Rows never outnumber lines: a file refused here was only counted.
    if line_count > limits.rows + 1 and _rows_over(binary, encoding, limits):
        raise too_many_rows(limits)
    lines = head.decode(encoding, errors="ignore").splitlines()
    first_line = next((line for line in lines if line.strip()), "")
    binary.seek(0)
    text = io.TextIOWrapper(binary, encoding=encoding, newline="")
    _raise_field_limit(limits)
    lines = _BoundedLines(text, limits)
    reader = csv.reader(lines, delimiter=_detect_delimiter(first_line))
    max_columns, max_line, max_chars = (
        limits.columns,
        limits.rows + 1,
        limits.cell_chars,
    )

    def rows() -> Iterator[tuple[int, list[str]]]:
        start = 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                if "field limit" in str(exc):
                    raise cell_too_long(limits, line=reader.line_num) from None
                raise ImportFileError(
                    _("The CSV cannot be read: %(reason)s") % {"reason": exc},
                    line=reader.line_num,
                ) from None
            lines.row_chars = 0
            if len(cells) > max_columns:
                raise too_many_columns(limits, line=start)
            if start > max_line:  # only when the count before was wrong
                raise too_many_rows(limits, line=start)
            joined = "".join(cells)
            if len(joined) > max_chars and max(map(len, cells)) > max_chars:
                raise cell_too_long(limits, line=start)
            if joined and not joined.isspace():  # strip() without a copy
                yield start, cells
            start = reader.line_num + 1

    return rows(), line_count


def _rows_over(binary: IO[bytes], encoding: str, limits: Limits) -> bool:
    """More rows than allowed? Only asked when the lines are more: quoted
    cells may span lines. Counts without keeping any row."""
    binary.seek(0)
    text = io.TextIOWrapper(binary, encoding=encoding, newline="")
    _raise_field_limit(limits)
    lines = _BoundedLines(text, limits)
    count = 0
    try:
        for count, _cells in enumerate(csv.reader(lines)):
            lines.row_chars = 0
            if count > limits.rows + 1:
                return True
    except csv.Error:
        return False  # the real reading says what is wrong, and where
    finally:
        text.detach()
    return count > limits.rows + 1


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


def _xlsx_rows(
    binary: IO[bytes], limits: Limits
) -> tuple[Iterator[tuple[int, list[str]]], int]:
    limits = limits.for_xlsx()
    binary.seek(0)
    try:
        workbook = xlsx_open(binary, limits)
        sheet = workbook.worksheets[0]
        total = sheet.max_row or 0
        # Read every row the sheet holds, not the size it declares (its
        # <dimension>, which read-only openpyxl otherwise stops at: some
        # writers set it wrong, and a sheet saying A1:C2 over 3,000 rows
        # imported one). The declared size stays an estimate.
        sheet.reset_dimensions()
    except ImportFileError:
        raise
    except Exception as exc:  # openpyxl raises many kinds on a broken file
        raise ImportFileError(
            _(
                "The XLSX file cannot be opened (%(reason)s). Save it again from Excel or export CSV."
            )
            % {"reason": exc.__class__.__name__}
        ) from None
    max_columns, max_line, max_chars = (
        limits.columns,
        limits.rows + 1,
        limits.cell_chars,
    )

    def rows() -> Iterator[tuple[int, list[str]]]:
        line = 0
        try:
            for line, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                if len(values) > max_columns:
                    raise too_many_columns(limits, line=line)
                if line > max_line:
                    raise too_many_rows(limits, line=line)
                cells = [_cell_text(value) for value in values]
                joined = "".join(cells)
                if len(joined) > max_chars and max(map(len, cells)) > max_chars:
                    raise cell_too_long(limits, line=line)
                if joined.strip():
                    yield line, cells
        except ImportFileError:
            raise
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
    limits = current_limits()
    binary.seek(0)
    head = binary.read(_SNIFF_BYTES)
    if not head.strip():
        raise ImportFileError(_("The file is empty."))
    if _detect_kind(head) == "xlsx":
        return _xlsx_rows(binary, limits)
    expanded_size(binary, limits)
    return _csv_rows(binary, head, limits)


def open_path(path: str | Path) -> IO[bytes]:
    """Open a file for import, turning OS errors into ImportFileError."""
    try:
        return open(path, "rb")  # the caller closes it
    except OSError as exc:
        raise ImportFileError(
            _("Cannot open %(path)s: %(reason)s")
            % {"path": path, "reason": exc.strerror}
        ) from None
