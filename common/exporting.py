"""Excel-safe exports of rows to CSV or XLSX, streamed with flat memory.

Generic on purpose: ``(header labels, iterable of row tuples, file name) ->
response``. The staff list uses it from the admin; campaign evidence exports
reuse it. Pass a lazy iterable (``queryset.values_list(...).iterator()``) so
100,000 rows never sit in memory at once.

Formula injection (OWASP "CSV Injection"): a spreadsheet evaluates a text
cell starting with ``= + - @`` (or a tab / carriage return before one), so a
name such as ``=HYPERLINK(...)`` typed into an HR system would run when the
DPO opens the export. ``neutralise`` prefixes such text with ``'`` and is the
one rule used by both formats; numbers stay numbers.
"""

from __future__ import annotations

import codecs
import csv
import io
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Rows written per chunk of the CSV stream: big enough to keep the number of
# socket writes low, small enough to keep memory flat.
CSV_CHUNK_ROWS = 500

# Excel reads a CSV with the list separator of the Windows locale: ";" in
# most of continental Europe (French Excel's "CSV (séparateur : point-virgule)"),
# "," in English. Our own importer detects either.
SEMICOLON_LANGUAGES = frozenset({"fr", "de", "es", "it", "nl", "pt", "pl"})

Cell = str | int | float | Decimal | bool | date | datetime | time | None


def neutralise(value: Cell) -> Cell:
    """The one formula-injection rule of every export (both formats)."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def excel_delimiter(language: str | None) -> str:
    """The CSV delimiter Excel expects for people using this language."""
    base = (language or "").split("-")[0].split("_")[0].lower()
    return ";" if base in SEMICOLON_LANGUAGES else ","


def _plain(value: Cell) -> Cell:
    # Spreadsheets have no time zones: show aware datetimes in local time.
    if isinstance(value, datetime) and timezone.is_aware(value):
        return timezone.localtime(value).replace(tzinfo=None)
    return neutralise(value)


def _csv_text(value: Cell) -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return str(value)


def _xlsx_value(value: Cell) -> Cell:
    value = _plain(value)
    if isinstance(value, str):
        # Control characters other than tab/newline make an invalid XLSX.
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


def csv_lines(
    headers: Sequence[str], rows: Iterable[Sequence[Cell]], *, delimiter: str = ","
) -> Iterator[str]:
    """The CSV text in chunks: BOM, header line, then rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    # The BOM is what makes Excel read UTF-8 (accents) instead of the
    # Windows code page.
    buffer.write(codecs.BOM_UTF8.decode("utf-8"))
    writer.writerow([_csv_text(label) for label in headers])
    for count, row in enumerate(rows, start=1):
        writer.writerow([_csv_text(value) for value in row])
        if count % CSV_CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def csv_response(
    headers: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    filename: str,
    *,
    delimiter: str = ",",
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        (
            chunk.encode("utf-8")
            for chunk in csv_lines(headers, rows, delimiter=delimiter)
        ),
        content_type=CSV_CONTENT_TYPE,
    )
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=filename
    )
    return response


def xlsx_file(headers: Sequence[str], rows: Iterable[Sequence[Cell]]) -> Any:
    """Write the workbook to an anonymous temporary file, rewound.

    openpyxl's write-only mode streams each row to disk as it is appended,
    so memory stays flat; the zip is finished on save, which is why the file
    is complete before the response starts (then streamed from disk).
    """
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append([_xlsx_value(label) for label in headers])
    for row in rows:
        sheet.append([_xlsx_value(value) for value in row])
    output = tempfile.TemporaryFile(suffix=".xlsx")  # FileResponse closes it
    workbook.save(output)
    output.seek(0)
    return output


def xlsx_response(
    headers: Sequence[str], rows: Iterable[Sequence[Cell]], filename: str
) -> FileResponse:
    return FileResponse(
        xlsx_file(headers, rows),
        as_attachment=True,
        filename=filename,
        content_type=XLSX_CONTENT_TYPE,
    )


def export_response(
    kind: str,
    headers: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    filename: str,
    *,
    csv_delimiter: str = ",",
) -> StreamingHttpResponse | FileResponse:
    """``kind`` is ``"csv"`` or ``"xlsx"``; ``filename`` has no extension."""
    if kind == "xlsx":
        return xlsx_response(headers, rows, f"{filename}.xlsx")
    if kind == "csv":
        return csv_response(headers, rows, f"{filename}.csv", delimiter=csv_delimiter)
    raise ValueError(f"unknown export format {kind!r}")
