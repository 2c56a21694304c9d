"""Personal links outside e-mail: CSV for mail merges, QR codes for letters.

Used by `campaign_links` and the campaign admin's download and printable
page, so both give the same file.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import TextIO

import qrcode
import qrcode.image.svg
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from common.exporting import csv_lines, excel_delimiter, neutralise
from notifications.campaigns.selectors import LinkRow

# The plain form's header: column keys scripts read (``campaign_links``'s
# documented default), never translated.
CSV_HEADER = ("email", "first_name", "last_name", "department", "link")


def _labels() -> list[str]:
    return [_("email"), _("first name"), _("last name"), _("department"), _("link")]


def _values(row: LinkRow) -> tuple[str, ...]:
    return (row.email, row.first_name, row.last_name, row.department, row.link)


def links_csv_write(
    rows: Iterable[LinkRow],
    out: TextIO,
    *,
    plain: bool = False,
    language: str | None = None,
) -> int:
    """The CSV of ``rows`` into ``out``; how many rows were written.

    By default the form of the other exports, for a person opening it in
    Excel or a mail merge: a BOM, the delimiter of the language
    (``excel_delimiter``: ";" in French), headers in that language (the
    active one unless ``language`` is given). ``plain``: the script form
    ``campaign_links`` has always printed by default: comma, no BOM, the
    English column keys of CSV_HEADER.

    Every cell goes through the exports' one formula-injection rule
    (common.exporting.neutralise): names and departments come from an HR
    export we do not control, and an address such as ``=1+1@example.com``
    passes Django's validator.
    """
    count = 0

    def counted() -> Iterator[tuple[str, ...]]:
        nonlocal count
        for row in rows:
            count += 1
            yield _values(row)

    if plain:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for values in counted():
            writer.writerow([neutralise(value) for value in values])
        return count
    delimiter = excel_delimiter(language or get_language())
    for chunk in csv_lines(_labels(), counted(), delimiter=delimiter):
        out.write(chunk)
    return count


def qr_svg(url: str) -> SafeString:
    """An inline SVG QR code of ``url`` (pure Python, no imaging library)."""
    image = qrcode.make(
        url,
        image_factory=qrcode.image.svg.SvgPathImage,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=10,
        border=4,
    )
    svg = image.to_string(encoding="unicode")
    # Our own markup from our own URL: safe to inline.
    return mark_safe(svg)  # noqa: S308
