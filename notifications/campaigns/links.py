"""Personal links outside e-mail: CSV for mail merges, QR codes for letters.

Used by `campaign_links` and the campaign admin's download and printable
page, so both give the same file.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import TextIO

import qrcode
import qrcode.image.svg
from django.utils.safestring import SafeString, mark_safe

from notifications.campaigns.selectors import LinkRow

CSV_HEADER = ("email", "first_name", "last_name", "department", "link")


def _cell(value: str) -> str:
    # A spreadsheet would run a cell starting with = + - @ as a formula
    # (CSV injection); names come from an HR export we do not control.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def links_csv_write(rows: Iterable[LinkRow], out: TextIO) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    count = 0
    for row in rows:
        writer.writerow(
            [
                row.email,
                _cell(row.first_name),
                _cell(row.last_name),
                _cell(row.department),
                row.link,
            ]
        )
        count += 1
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
