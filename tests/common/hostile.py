"""Hostile cell values and the check every export's tests apply to them.

The check is written apart from common/exporting.py on purpose: it says what
a spreadsheet would see, not how the helper decides. A cell is safe when,
once control, zero-width / format and space characters at its front are set
aside and the text is NFKC-normalised (both orders), it does not begin with
``=``, ``+``, ``-`` or ``@``. An XLSX cell is read as Excel shows it (its
``_xHHHH_`` escapes decoded).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# Values an HR file may carry, each hiding a formula behind something a
# spreadsheet skips or folds.
HOSTILE = (
    '\x01=HYPERLINK("http://e.example","x")',
    "\u200b=1+1",
    "\ufeff@SUM(A1)",
    "\uff1d1+1",  # full-width equals sign
    " -2+3",
    "\t=cmd",
    "\u00a0+1",  # no-break space
    "\u3000=1",  # ideographic space
    "\u2060\u200e-1",  # word joiner, left-to-right mark
    "\r\n=1",
    "\x85@A1",  # C1 next line
)
# Passes Django's EmailValidator (so an import accepts it); create it directly.
HOSTILE_EMAIL = "=1+1@ctl.example"
TRIGGERS = ("=", "+", "-", "@")
_SET_ASIDE = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})
_EXCEL_ESCAPE = re.compile("_x([0-9A-Fa-f]{4})_")
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _lstrip(text: str) -> str:
    index = 0
    while index < len(text) and (
        unicodedata.category(text[index]) in _SET_ASIDE or text[index].isspace()
    ):
        index += 1
    return text[index:]


def seen(text: str) -> list[str]:
    """The text as a spreadsheet may read it, in both orders of the rule."""
    nfkc = unicodedata.normalize
    return [
        _lstrip(nfkc("NFKC", text)),
        _lstrip(nfkc("NFKC", _lstrip(text))),
    ]


def is_safe(text: str) -> bool:
    return not any(view.startswith(TRIGGERS) for view in seen(text))


def excel_text(stored: str) -> str:
    """What Excel shows for the text openpyxl stored (ST_Xstring decoded)."""
    return _EXCEL_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), stored)


def assert_csv_safe(rows: Iterable[Iterable[str]]) -> None:
    unsafe = [cell for row in rows for cell in row if not is_safe(cell)]
    assert not unsafe, f"cells a spreadsheet would evaluate: {unsafe!r}"


def assert_xlsx_safe(sheet) -> None:
    """Every text cell safe as Excel shows it; no formula cell at all."""
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", f"{cell.coordinate} is a formula"
            if isinstance(cell.value, str):
                assert cell.data_type == "s", cell.coordinate
                assert is_safe(excel_text(cell.value)), (cell.coordinate, cell.value)


def csv_written(value: str) -> str:
    """What a neutralised CSV cell holding ``value`` reads back as."""
    return "'" + value


def xlsx_read_back(value: str) -> str:
    """What openpyxl reads back from the neutralised XLSX cell of ``value``:
    the controls XML forbids dropped, line ends as an XML parser gives them."""
    kept = _XML_FORBIDDEN.sub("", value)
    return "'" + kept.replace("\r\n", "\n").replace("\r", "\n")
