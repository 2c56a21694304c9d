"""The dashboard's reads: a campaign's figures, every campaign's progress,
the people of a campaign (outstanding list, drill-down, export).

Each function here runs a fixed number of queries whatever the number of
employees: counts are GROUP BY queries folded in Python, never one query per
step, group or person. tests/notifications/dashboard/test_dashboard.py pins
the numbers. How Delivery statuses add up is the campaign stage's
(selectors.DELIVERY_FIGURES), shared with campaign_status.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from common.texts import shown_lazy
from employees.models import EmailStatus, Employee
from notifications.campaigns.selectors import (
    DELIVERY_FIGURES,
    LEFT_US,
    campaign_audience,
)
from notifications.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Recipient,
    Step,
    StepStatus,
)

_PROBLEM_STATUSES = (
    DeliveryStatus.FAILED,
    DeliveryStatus.REJECTED,
    DeliveryStatus.BOUNCED,
    DeliveryStatus.COMPLAINED,
    DeliveryStatus.SKIPPED,
)
# Busy rows: a step still has work for the workers.
BREAKDOWN_FIELDS = ("department", "country", "language")
PEOPLE_SHOW = ("outstanding", "acknowledged", "all")


def _percent(part: int, whole: int) -> int:
    """Rounded down, so 99.6 % never reads as a finished 100 %."""
    return (100 * part) // whole if whole else 0


@dataclass(frozen=True)
class StepFigures:
    id: int
    kind: str
    kind_label: str
    status: str
    status_label: str
    due_at: datetime | None
    targeted: int
    queued: int
    sent: int
    failed: int
    delivered: int
    bounced: int
    skipped: int
    # Of the queued, rows waiting for their person's send window to open
    # where they are (a step goes out in waves, delivery/waves.py), and when
    # the next of those windows opens.
    waiting: int = 0
    next_wave_at: datetime | None = None

    @property
    def done(self) -> int:
        """Rows with an outcome: what the step's progress bar shows."""
        return self.targeted - self.queued

    @property
    def progress(self) -> int:
        return _percent(self.done, self.targeted)

    @property
    def busy(self) -> bool:
        """Sending now: rows due for the workers (not those waiting for
        their window), or rows still being created."""
        return self.queued > self.waiting or self.status == StepStatus.DISPATCHING


@dataclass(frozen=True)
class Problem:
    status: str
    status_label: str
    reason: str
    count: int


@dataclass(frozen=True)
class GroupRow:
    value: str
    total: int
    acknowledged: int

    @property
    def outstanding(self) -> int:
        return self.total - self.acknowledged

    @property
    def percent(self) -> int:
        return _percent(self.acknowledged, self.total)


@dataclass(frozen=True)
class AnswerCount:
    value: str
    label: str
    count: int


@dataclass(frozen=True)
class DashboardFigures:
    campaign: Campaign
    audience: int
    enrolled: int
    acknowledged: int
    # Acknowledged after the deadline (models.acknowledged_late).
    late: int
    days_left: int
    steps: list[StepFigures]
    problems: list[Problem]
    answers: list[AnswerCount]
    breakdown: dict[str, list[GroupRow]]
    # (local date, acknowledgements that day), in date order.
    per_day: list[tuple[date, int]]
    # When the figures were counted, for a large campaign's snapshot
    # (snapshots.py); None: counted for this request.
    as_of: datetime | None = None

    @property
    def outstanding(self) -> int:
        return self.enrolled - self.acknowledged

    @property
    def percent(self) -> int:
        return _percent(self.acknowledged, self.enrolled)

    @property
    def sending(self) -> bool:
        return any(step.busy for step in self.steps)

    def total(self, figure: str) -> int:
        return sum(getattr(step, figure) for step in self.steps)

    @property
    def total_sent(self) -> int:
        return self.total("sent")

    @property
    def total_delivered(self) -> int:
        return self.total("delivered")

    @property
    def total_bounced(self) -> int:
        return self.total("bounced")

    @property
    def total_failed(self) -> int:
        return self.total("failed")

    @property
    def total_problems(self) -> int:
        return self.total_bounced + self.total_failed


def _step_waves(steps: list[Step], now: datetime) -> dict[int, tuple[int, datetime]]:
    """Per step: rows waiting for their window, and the next opening. Queued
    rows never handed to a worker (no claim, no attempt) whose time is ahead;
    read through the (step, status) index, so only queued rows are visited."""
    rows = (
        Delivery.objects.filter(
            step_id__in=[s.id for s in steps],
            status=DeliveryStatus.QUEUED,
            claimed_at__isnull=True,
            attempts=0,
            next_attempt_at__gt=now,
        )
        .values_list("step_id")
        .annotate(n=Count("*"), first=Min("next_attempt_at"))
        .order_by()
    )
    return {step_id: (n, first) for step_id, n, first in rows}


def _step_figures(steps: list[Step], now: datetime) -> list[StepFigures]:
    # COUNT(*), not COUNT(id): PostgreSQL then answers from the (step,
    # status) index alone, without reading the 300,000 rows.
    rows = (
        Delivery.objects.filter(step_id__in=[s.id for s in steps])
        .values_list("step_id", "status")
        .annotate(n=Count("*"))
        .order_by()
    )
    per_step: dict[int, Counter] = {}
    for step_id, status, n in rows:
        per_step.setdefault(step_id, Counter())[status] += n
    waves = _step_waves(steps, now)
    figures = []
    for step in steps:
        counts = per_step.get(step.id, Counter())
        waiting, next_wave_at = waves.get(step.id, (0, None))
        sums = {
            name: sum(counts[s] for s in group)
            for name, group in DELIVERY_FIGURES.items()
        }
        figures.append(
            StepFigures(
                id=step.id,
                kind=step.kind,
                kind_label=step.get_kind_display(),
                status=step.status,
                status_label=step.get_status_display(),
                due_at=step.due_at,
                targeted=sum(counts.values()),
                waiting=waiting,
                next_wave_at=next_wave_at,
                **sums,
            )
        )
    return figures


def _problems(steps: list[Step]) -> list[Problem]:
    rows = (
        Delivery.objects.filter(
            step_id__in=[s.id for s in steps], status__in=_PROBLEM_STATUSES
        )
        .values_list("status", "last_error")
        .annotate(n=Count("id"))
        .order_by("-n", "status", "last_error")[:12]
    )
    labels = dict(DeliveryStatus.choices)
    return [
        Problem(status, labels.get(status, status), shown_lazy(reason) or "—", n)
        for status, reason, n in rows
    ]


def _per_day(campaign: Campaign) -> list[tuple[date, int]]:
    """Acknowledgements per local day; COUNT(*) over acknowledged_at alone
    lets PostgreSQL read the (campaign, acknowledged_at) index only."""
    rows = (
        Recipient.objects.filter(campaign=campaign, acknowledged_at__isnull=False)
        .annotate(day=TruncDate("acknowledged_at", tzinfo=ZoneInfo(campaign.time_zone)))
        .values_list("day")
        .annotate(n=Count("*"))
        .order_by("day")
    )
    return list(rows)


def _answers(campaign: Campaign, counts: Counter) -> list[AnswerCount]:
    if not campaign.asks_answer:
        return []
    counts = Counter(counts)
    language = get_language() or settings.LANGUAGE_CODE
    answers = []
    for choice in campaign.answer_choices or []:
        labels = choice.get("labels") or {}
        label = labels.get(language) or labels.get(settings.LANGUAGE_CODE)
        answers.append(
            AnswerCount(
                choice["value"],
                label or choice["value"],
                counts.pop(choice["value"], 0),
            )
        )
    # Answers no longer among the choices (edited after launch), or none.
    for value, n in sorted(counts.items()):
        answers.append(AnswerCount(value, value or _("No answer"), n))
    return answers


def _breakdown(
    campaign: Campaign,
) -> tuple[dict[str, list[GroupRow]], Counter, int]:
    """Totals per department, country and language, and the answers, from one
    grouped query: the combinations are few (not one per person), the
    answers bounded by the campaign's choices; and the late acknowledgements
    (models.acknowledged_late), counted in the same query.
    """
    rows = (
        Recipient.objects.filter(campaign=campaign)
        .values_list("employee__department", "employee__country", "language", "answer")
        .annotate(
            total=Count("*"),
            acknowledged=Count("acknowledged_at"),
            late=Count("id", filter=Q(acknowledged_at__gt=campaign.deadline)),
        )
        .order_by()
    )
    names = BREAKDOWN_FIELDS
    totals: dict[str, Counter] = {f: Counter() for f in names}
    acked: dict[str, Counter] = {f: Counter() for f in names}
    answers: Counter = Counter()
    late_total = 0
    for *values, answer, total, acknowledged, late in rows:
        answers[answer] += acknowledged
        late_total += late
        for field, value in zip(names, values, strict=True):
            totals[field][value or ""] += total
            acked[field][value or ""] += acknowledged
    breakdown = {
        field: [
            GroupRow(value, total, acked[field][value])
            for value, total in sorted(totals[field].items())
        ]
        for field in names
    }
    return breakdown, +answers, late_total


def _days_left(campaign: Campaign, now: datetime) -> int:
    tz = ZoneInfo(campaign.time_zone)
    days = (campaign.deadline.astimezone(tz).date() - now.astimezone(tz).date()).days
    return max(0, days)


def campaign_dashboard(
    campaign: Campaign, *, now: datetime | None = None
) -> DashboardFigures:
    """Everything the campaign's dashboard shows, in six queries (seven for a
    draft, which also counts its would-be audience)."""
    now = now or timezone.now()
    steps = list(campaign.steps.order_by("due_at", "id"))
    breakdown, answers, late = _breakdown(campaign)
    enrolled = sum(row.total for row in breakdown["language"])
    acknowledged = sum(row.acknowledged for row in breakdown["language"])
    per_day = _per_day(campaign)
    audience = enrolled
    if campaign.status == CampaignStatus.DRAFT:
        audience = campaign_audience(campaign).count()
    return DashboardFigures(
        campaign=campaign,
        audience=audience,
        enrolled=enrolled,
        acknowledged=acknowledged,
        late=late,
        days_left=_days_left(campaign, now),
        steps=_step_figures(steps, now),
        problems=_problems(steps),
        answers=_answers(campaign, answers),
        breakdown=breakdown,
        per_day=per_day,
    )


@dataclass(frozen=True)
class CampaignLine:
    campaign: Campaign
    enrolled: int
    acknowledged: int
    problems: int
    days_left: int

    @property
    def percent(self) -> int:
        return _percent(self.acknowledged, self.enrolled)


def campaigns_overview(
    *, now: datetime | None = None, known: Mapping[int, DashboardFigures] | None = None
) -> list[CampaignLine]:
    """Every campaign with its progress, in three queries whatever their
    number. ``known``: figures already counted (a large campaign's snapshot,
    snapshots.py), whose recipients and messages are then not counted again."""
    now = now or timezone.now()
    known = known or {}
    campaigns = list(Campaign.objects.order_by("-deadline", "name"))
    counted = [c.pk for c in campaigns if c.pk not in known]
    people = {
        campaign_id: (total, acknowledged)
        for campaign_id, total, acknowledged in Recipient.objects.filter(
            campaign_id__in=counted
        )
        .values_list("campaign_id")
        .annotate(total=Count("*"), acknowledged=Count("acknowledged_at"))
        .order_by()
    }
    problems = dict(
        Delivery.objects.filter(
            step__campaign_id__in=counted,
            status__in=(
                DeliveryStatus.FAILED,
                DeliveryStatus.REJECTED,
                DeliveryStatus.BOUNCED,
                DeliveryStatus.COMPLAINED,
            ),
        )
        .values_list("step__campaign_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    lines = []
    for c in campaigns:
        figures = known.get(c.pk)
        if figures is not None:
            enrolled, acknowledged = figures.enrolled, figures.acknowledged
            failed = figures.total_problems
        else:
            enrolled, acknowledged = people.get(c.pk, (0, 0))
            failed = problems.get(c.pk, 0)
        lines.append(
            CampaignLine(c, enrolled, acknowledged, failed, _days_left(c, now))
        )
    return lines


# --- People of a campaign (outstanding list, drill-down, export) -------------


@dataclass(frozen=True)
class PeopleFilter:
    show: str = "outstanding"
    department: str | None = None
    country: str | None = None
    language: str | None = None
    # Text matched against the manager's email or name.
    manager: str = ""
    # A step id, or 0 for "received nothing yet"; None: any.
    last_step: int | None = None
    bounced: bool = False

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> PeopleFilter:
        """From the list page's query string; unknown values are ignored."""
        show = params.get("show", "outstanding")
        step = params.get("last_step", "")

        def optional(name: str) -> str | None:
            # Present but empty means "the blank value" (people without a
            # department), which the breakdown table links to.
            return params[name] if name in params and params[name] != "*" else None

        return cls(
            show=show if show in PEOPLE_SHOW else "outstanding",
            department=optional("department"),
            country=optional("country"),
            language=optional("language"),
            manager=(params.get("manager") or "").strip(),
            last_step=int(step) if step.isdigit() else None,
            bounced=params.get("bounced") == "1",
        )

    def query(self) -> dict[str, str]:
        """The query-string form of this filter (links, exports)."""
        params: dict[str, str] = {"show": self.show}
        for name in BREAKDOWN_FIELDS:
            value = getattr(self, name)
            if value is not None:
                params[name] = value
        if self.manager:
            params["manager"] = self.manager
        if self.last_step is not None:
            params["last_step"] = str(self.last_step)
        if self.bounced:
            params["bounced"] = "1"
        return params


PEOPLE_COLUMNS = (
    "id",
    "last_name",
    "first_name",
    "employee__email",
    "employee__department",
    "employee__country",
    "language",
    "employee__manager__first_name",
    "employee__manager__last_name",
    "employee__manager__email",
    "employee__email_status",
    "last_step_id",
    "last_sent_at",
    "acknowledged_at",
    "answer",
)
# The export leaves out the time of the last message (the step's label has
# its date): one correlated subquery per row instead of two.
PEOPLE_EXPORT_COLUMNS = tuple(c for c in PEOPLE_COLUMNS if c != "last_sent_at")


def _received(field: str) -> Subquery:
    """The latest message that left us for the person (a correlated
    subquery on the (recipient, step) unique index)."""
    latest = Delivery.objects.filter(
        recipient=OuterRef("pk"), status__in=LEFT_US
    ).order_by("-sent_at", "-id")
    return Subquery(latest.values(field)[:1])


def people_filtered(campaign: Campaign, filters: PeopleFilter) -> QuerySet[Recipient]:
    """Recipients of the campaign matching ``filters`` (for counting)."""
    qs = Recipient.objects.filter(campaign=campaign)
    if filters.show == "outstanding":
        qs = qs.filter(acknowledged_at__isnull=True)
    elif filters.show == "acknowledged":
        qs = qs.filter(acknowledged_at__isnull=False)
    for name, lookup in (
        ("department", "employee__department"),
        ("country", "employee__country"),
        ("language", "language"),
    ):
        value = getattr(filters, name)
        if value is not None:
            qs = qs.filter(**{lookup: value})
    if filters.manager:
        text = filters.manager
        qs = qs.filter(
            Q(employee__manager__email__iexact=text)
            | Q(employee__manager__last_name__icontains=text)
            | Q(employee__manager__first_name__icontains=text)
        )
    if filters.last_step is not None:
        qs = qs.annotate(last_step_id=_received("step_id"))
        if filters.last_step == 0:
            qs = qs.filter(last_step_id__isnull=True)
        else:
            qs = qs.filter(last_step_id=filters.last_step)
    if filters.bounced:
        qs = qs.exclude(employee__email_status=EmailStatus.OK)
    return qs


def campaign_people(
    campaign: Campaign,
    filters: PeopleFilter,
    *,
    columns: tuple[str, ...] = PEOPLE_COLUMNS,
) -> QuerySet[Recipient]:
    """The matching recipients as dicts of ``columns``, by name.

    ``last_step_id``/``last_sent_at`` come from correlated subqueries that
    PostgreSQL evaluates after LIMIT for a page of the list.
    """
    qs = people_filtered(campaign, filters)
    if filters.last_step is None:
        qs = qs.annotate(last_step_id=_received("step_id"))
    if "last_sent_at" in columns:
        qs = qs.annotate(last_sent_at=_received("sent_at"))
    # The order of the recipient_people_order index: page 1 reads 50 entries.
    return qs.order_by("last_name", "first_name", "email", "id").values(*columns)


def people_filter_choices(*, directory: bool = True) -> dict[str, list[str]]:
    """Departments and countries of the directory and the languages, for the
    list's filters: one query on the employees alone (joining the campaign's
    recipients would cost a scan of both at 100,000 people); ``directory``
    False: the languages only."""
    rows = (
        Employee.objects.values_list("department", "country").distinct().order_by()
        if directory
        else []
    )
    found: dict[str, set[str]] = {"department": set(), "country": set()}
    for department, country in rows:
        found["department"].add(department or "")
        found["country"].add(country or "")
    return {
        "department": sorted(found["department"]),
        "country": sorted(found["country"]),
        "language": [code for code, _name in settings.LANGUAGES],
    }
