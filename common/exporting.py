"""Excel-safe exports of rows to CSV or XLSX, streamed with flat memory.

Generic on purpose: ``(header labels, iterable of row tuples, file name) ->
response``. The staff list uses it from the admin; campaign evidence exports
reuse it. Pass a lazy iterable (``queryset.values_list(...).iterator()``) so
100,000 rows never sit in memory at once.

Formula injection (OWASP "CSV Injection"): a spreadsheet evaluates a text
cell starting with ``= + - @``, so a name such as ``=HYPERLINK(...)`` typed
into an HR system would run when the DPO opens the export. Spreadsheets skip
or fold some characters before they decide, so ``neutralise`` looks at the
first character left once these are set aside (``_set_aside``): controls
(tab, CR, LF, C1 too), format characters (zero-width space, joiners, BOM,
bidi marks), every kind of space (no-break, ideographic), combining marks,
unassigned and private-use code points, the Hangul fillers. Each remaining
character is read through NFKC, so the full-width forms (U+FF1D, U+FF0B,
U+FF0D, U+FF20) and the small, superscript and subscript ones count as what
they fold to. Such text is prefixed with ``'`` as OWASP advises, in CSV and
in XLSX text cells alike (an XLSX text cell becomes a formula when someone
edits it); so is text starting with a tab or a carriage return, as OWASP
lists them. It is the one rule of both formats; numbers and dates stay
numbers and dates.

An XLSX cell is stripped of the characters XML forbids *before* it is
neutralised (U+0001 then ``=HYPERLINK(...)`` must not reach openpyxl as a
formula once the U+0001 is gone), and its ``_xHHHH_`` sequences, which Excel
decodes, are escaped so that the cell shows the text we wrote.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import re
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from openpyxl import Workbook

# What a cell may not begin with, once _set_aside characters are skipped and
# the rest read through NFKC ("\u2212" MINUS SIGN: LibreOffice reads it as -).
FORMULA_TRIGGERS = frozenset("=+-@\u2212")
# OWASP also lists a tab or a carriage return as the very first character.
RAW_TRIGGERS = frozenset("\t\r")
# Unicode categories skipped: C (Cc controls, Cf format, Cs, Co, Cn),
# Z (spaces, line and paragraph separators), M (combining marks).
SET_ASIDE_CATEGORIES = frozenset("CZM")
# Letters that print nothing (Hangul fillers, Default_Ignorable_Code_Point).
SET_ASIDE_FILLERS = frozenset("\u115f\u1160\u3164\uffa0")
# Printable ASCII that starts a harmless cell: the fast path of neutralise
# (not "'", which reversible neutralising looks behind).
_SAFE_ASCII_STARTS = frozenset(map(chr, range(0x21, 0x7F))) - FORMULA_TRIGGERS - {"'"}
# What XML 1.0, hence XLSX, cannot hold (openpyxl refuses the C0 controls;
# U+FFFE, U+FFFF and lone surrogates would make a file Excel cannot open).
XML_ILLEGAL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Excel decodes _xHHHH_ in a cell's text; _x005F_ is an escaped "_".
XLSX_ESCAPE_RE = re.compile("_(?=x[0-9A-Fa-f]{4}_)")
# Excel refuses these in a sheet's name, and names longer than 31 characters.
SHEET_TITLE_FORBIDDEN_RE = re.compile(r"[\[\]:*?/\\]")
SHEET_TITLE_MAX = 31
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


@functools.lru_cache(maxsize=4096)
def _set_aside(char: str) -> bool:
    """A character a spreadsheet may skip before it decides on a formula."""
    return (
        unicodedata.category(char)[0] in SET_ASIDE_CATEGORIES
        or char in SET_ASIDE_FILLERS
    )


def visible_start(text: str) -> str:
    """The first character of ``text`` once ``_set_aside`` ones are skipped,
    NFKC-folded (full-width U+FF1D is ``"="``); ``""`` if there is none."""
    for char in text:
        for folded in unicodedata.normalize("NFKC", char):
            if not _set_aside(folded):
                return folded
    return ""


def _dangerous(text: str) -> bool:
    first = text[:1]
    if first in _SAFE_ASCII_STARTS:  # nearly every cell: one set lookup
        return False
    return first in RAW_TRIGGERS or visible_start(text) in FORMULA_TRIGGERS


def neutralise(value: Cell, *, reversible: bool = False) -> Cell:
    """The one formula-injection rule of every export (both formats).

    Idempotent: text that already starts with ``'`` is left alone, so rows a
    caller neutralised can go through the writers again. ``reversible``
    (evidence that is read back with ``unneutralise``) also prefixes text
    that starts with ``'`` before a trigger, so that the reading is exact.
    """
    if isinstance(value, str):
        return _neutralised(value, reversible)
    return value


def _neutralised(text: str, reversible: bool = False) -> str:
    if text[:1] in _SAFE_ASCII_STARTS:
        return text  # the fast path: nearly every cell
    looked_at = text.lstrip("'") if reversible else text
    return "'" + text if _dangerous(looked_at) else text


def unneutralise(text: str) -> str:
    """The value ``neutralise(..., reversible=True)`` was given."""
    if text[:1] == "'" and _dangerous(text[1:].lstrip("'")):
        return text[1:]
    return text


def excel_delimiter(language: str | None) -> str:
    """The CSV delimiter Excel expects for people using this language."""
    base = (language or "").split("-")[0].split("_")[0].lower()
    return ";" if base in SEMICOLON_LANGUAGES else ","


# Written as they are (bool is an int, datetime a date); anything else is
# written as its text, neutralised.
_KEPT_TYPES = (int, float, Decimal, date, time)


def _kept(value: Cell) -> Cell:
    # Spreadsheets have no time zones: show aware datetimes in local time.
    if isinstance(value, datetime) and timezone.is_aware(value):
        return timezone.localtime(value).replace(tzinfo=None)
    return value


def _csv_text(value: Cell, reversible: bool = False) -> str:
    if isinstance(value, str):  # most cells: checked first
        return _neutralised(value, reversible)
    if value is None:
        return ""
    if isinstance(value, _KEPT_TYPES):
        value = _kept(value)
        if isinstance(value, datetime):
            return value.isoformat(sep=" ", timespec="seconds")
        return str(value)
    return _neutralised(str(value), reversible)


def _xlsx_value(value: Cell) -> Cell:
    if value is None or isinstance(value, _KEPT_TYPES):
        return _kept(value)
    # Strip first, then neutralise what the cell will really hold.
    text = _neutralised(XML_ILLEGAL_RE.sub("", str(value)))
    return XLSX_ESCAPE_RE.sub("_x005F_", text)


def csv_lines(
    headers: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    *,
    delimiter: str = ",",
    reversible: bool = False,
) -> Iterator[str]:
    """The CSV text in chunks: BOM, header line, then rows.

    ``reversible``: every text cell reads back exactly with ``unneutralise``
    (see ``neutralise``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    # The BOM is what makes Excel read UTF-8 (accents) instead of the
    # Windows code page.
    buffer.write(codecs.BOM_UTF8.decode("utf-8"))
    writer.writerow([_csv_text(label, reversible) for label in headers])
    for count, row in enumerate(rows, start=1):
        writer.writerow([_csv_text(value, reversible) for value in row])
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


def sheet_title(title: str | None) -> str | None:
    """A title Excel accepts: none of ``[]:*?/\\``, no leading or trailing
    ``'``, at most 31 characters (longer ones make Excel "repair" the file)."""
    if not title:
        return None
    cleaned = SHEET_TITLE_FORBIDDEN_RE.sub(" ", str(title)).strip().strip("'")
    return cleaned[:SHEET_TITLE_MAX].strip() or None


def xlsx_file(
    headers: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    *,
    title: str | None = None,
) -> Any:
    """Write the workbook to an anonymous temporary file, rewound.

    openpyxl's write-only mode streams each row to disk as it is appended,
    so memory stays flat; the zip is finished on save, which is why the file
    is complete before the response starts (then streamed from disk).
    ``title`` names the sheet (openpyxl's default is "Sheet").
    """
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=sheet_title(title))
    sheet.append([_xlsx_value(label) for label in headers])
    for row in rows:
        sheet.append([_xlsx_value(value) for value in row])
    output = tempfile.TemporaryFile(suffix=".xlsx")  # FileResponse closes it
    workbook.save(output)
    output.seek(0)
    return output


def xlsx_response(
    headers: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    filename: str,
    *,
    title: str | None = None,
) -> FileResponse:
    return FileResponse(
        xlsx_file(headers, rows, title=title),
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
    title: str | None = None,
) -> StreamingHttpResponse | FileResponse:
    """``kind`` is ``"csv"`` or ``"xlsx"``; ``filename`` has no extension;
    ``title`` names the XLSX sheet."""
    if kind == "xlsx":
        return xlsx_response(headers, rows, f"{filename}.xlsx", title=title)
    if kind == "csv":
        return csv_response(headers, rows, f"{filename}.csv", delimiter=csv_delimiter)
    raise ValueError(f"unknown export format {kind!r}")
