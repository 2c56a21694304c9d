"""The dashboard's chart, drawn on the server as inline SVG.

No JavaScript library and no third-party resource: the page stays readable
without scripts, prints, and the live refresh just swaps the markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 52, 40
# The baselines of the marker labels: three rows above the plot, one below
# the axis dates. A label takes the first row where it overlaps no other.
LANES = (TOP - 38, TOP - 24, TOP - 10, HEIGHT - 6)
# Upper bound of an 11 px label's width per character (bold included).
CHAR_WIDTH = 7.0


@dataclass(frozen=True)
class Marker:
    day: date
    label: str
    kind: str  # "step", "deadline" or "today": the CSS class


def _label_extent(mx: float, label: str) -> tuple[str, float, float]:
    """The anchor and horizontal extent of a marker label at ``mx``: centred
    on its line, growing inwards at the edges so none is cut off."""
    width = len(label) * CHAR_WIDTH
    if mx - width / 2 < 0:
        return "start", mx, mx + width
    if mx + width / 2 > WIDTH:
        return "end", mx - width, mx
    return "middle", mx - width / 2, mx + width / 2


def _free_lane(
    lanes: list[list[tuple[float, float]]], left: float, right: float
) -> int:
    """The first row whose labels leave [left, right] (and a gap) free; when
    none does, the row with the fewest labels."""
    gap = 6
    for index, taken in enumerate(lanes):
        if all(right + gap <= a or left >= b + gap for a, b in taken):
            return index
    return min(range(len(lanes)), key=lambda i: len(lanes[i]))


def _days(start: date, end: date) -> int:
    return max(1, (end - start).days)


def _before(per_day: Sequence[tuple[date, int]], start: date) -> int:
    return sum(n for day, n in per_day if day < start)


def _cumulative(per_day: Sequence[tuple[date, int]], start: date, last: date):
    counts = dict(per_day)
    total = _before(per_day, start)
    day = start
    while day <= last:
        total += counts.get(day, 0)
        yield day, total
        day += timedelta(days=1)


def ack_chart(
    *,
    per_day: Sequence[tuple[date, int]],
    enrolled: int,
    start: date,
    end: date,
    today: date,
    markers: Sequence[Marker],
) -> SafeString:
    """Cumulative acknowledgements per day (a line) against the audience (the
    top of the chart), with the step dates, the deadline and today."""
    end = max(end, today, start) + timedelta(days=1)
    span = _days(start, end)
    top = max(enrolled, 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day: date) -> float:
        return LEFT + plot_w * (day - start).days / span

    def y(value: int) -> float:
        return TOP + plot_h * (1 - value / top)

    title = escape(_("Acknowledgements per day, cumulative"))
    parts = [
        f'<svg class="ack-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="ack-chart-title" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="ack-chart-title">{title}</title>',
        f'<rect class="plot" x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}"/>',
    ]
    # Each value once: with a small audience the quarters round together.
    for value in sorted({round(top * f) for f in (0, 0.25, 0.5, 0.75, 1)}):
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{LEFT + plot_w}" '
            f'y1="{y(value):.1f}" y2="{y(value):.1f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{y(value) + 4:.1f}" '
            f'text-anchor="end">{value}</text>'
        )
    for day, anchor in ((start, "start"), (end, "end")):
        parts.append(
            f'<text class="axis" x="{x(day):.1f}" y="{HEIGHT - 22}" '
            f'text-anchor="{anchor}">{escape(date_format(day, "SHORT_DATE_FORMAT"))}</text>'
        )
    lanes: list[list[tuple[float, float]]] = [[] for _lane in LANES]
    for marker in sorted(
        (m for m in markers if start <= m.day <= end), key=lambda m: m.day
    ):
        mx = x(marker.day)
        anchor, left, right = _label_extent(mx, marker.label)
        lane = _free_lane(lanes, left, right)
        lanes[lane].append((left, right))
        parts.append(
            f'<g class="marker {marker.kind}"><line x1="{mx:.1f}" x2="{mx:.1f}" '
            f'y1="{TOP}" y2="{TOP + plot_h}"/>'
            f'<text x="{mx:.1f}" y="{LANES[lane]}" text-anchor="{anchor}">'
            f"{escape(marker.label)}</text></g>"
        )
    last = min(today, end)
    if last >= start:
        # Each day's total is reached at the end of the day: the line climbs
        # across the day, so even a first day alone shows as a slope.
        points = [
            f"{x(start):.1f},{y(0 if not per_day else _before(per_day, start)):.1f}"
        ]
        dots = []
        for day, total in _cumulative(per_day, start, last):
            px, py = x(day + timedelta(days=1)), y(total)
            points.append(f"{px:.1f},{py:.1f}")
            dots.append(f'<circle class="acks-dot" cx="{px:.1f}" cy="{py:.1f}" r="3"/>')
        parts.append(f'<polyline class="acks" points="{" ".join(points)}"/>')
        if len(dots) <= 62:
            parts.extend(dots)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (every text above is escaped)
