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

from common.exporting import neutralise
from notifications.campaigns.selectors import LinkRow

CSV_HEADER = ("email", "first_name", "last_name", "department", "link")


def links_csv_write(rows: Iterable[LinkRow], out: TextIO) -> int:
    """The CSV of ``rows`` into ``out``; how many rows were written.

    Every cell goes through the exports' one formula-injection rule
    (common.exporting.neutralise): names and departments come from an HR
    export we do not control, and an address such as ``=1+1@example.com``
    passes Django's validator.
    """
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    count = 0
    for row in rows:
        writer.writerow(
            [
                neutralise(value)
                for value in (
                    row.email,
                    row.first_name,
                    row.last_name,
                    row.department,
                    row.link,
                )
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
