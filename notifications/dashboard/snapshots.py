"""The dashboard's figures of a large campaign, from a snapshot refreshed in
the background.

Counting a campaign's recipients and deliveries takes time proportional to
its size: about 120 ms at 100,000 people on PostgreSQL, a second at
1,000,000, and every DPO and every live refresh repeats it. Up to
``DASHBOARD_LIVE_MAX_RECIPIENTS`` people, the figures are counted on each
request (``campaign_dashboard``). Above it, the page reads a snapshot from
the cache, at most ``DASHBOARD_REFRESH_SECONDS`` old: when it is older, the
page still answers with it at once and one worker counts again (a cache lock
keeps several requests from asking twice); the page says how old its
figures are. Only a campaign nobody has looked at yet is counted inside the
request.

Why not counters kept up to date on every acknowledgement and delivery:
they would put a hot row under every acknowledgement's one-statement write
and under every sending batch, and need the same bookkeeping in each code
path that changes a status. A snapshot reads the tables the evidence
reads, so the figures can never drift from the records.

Where the cache is per process (no ``CACHE_URL``), a worker's snapshot is
not visible to the web process: the request then counts again itself when
its snapshot is stale, as without the worker.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet
from django.utils import timezone

from notifications.dashboard.figures import (
    CampaignLine,
    DashboardFigures,
    PeopleFilter,
    _days_left,
    campaign_dashboard,
    campaigns_overview,
    people_filter_choices,
)
from notifications.models import Campaign

logger = logging.getLogger(__name__)


def _keys(campaign_id: int) -> tuple[str, str, str]:
    base = f"dashboard:{campaign_id}"
    return f"{base}:size", f"{base}:figures", f"{base}:refreshing"


def _shared_cache() -> bool:
    """Whether a worker's cache writes reach the web processes."""
    backend = settings.CACHES["default"]["BACKEND"]
    return not backend.endswith(("LocMemCache", "DummyCache"))


def dashboard_refresh(campaign_id: int) -> DashboardFigures | None:
    """Count a campaign's figures and keep them as its snapshot (the
    worker's task, and the request's when it has no usable snapshot)."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    size_key, figures_key, lock_key = _keys(campaign_id)
    if campaign is None:
        cache.delete_many([size_key, figures_key, lock_key])
        return None
    now = timezone.now()
    figures = dataclasses.replace(campaign_dashboard(campaign, now=now), as_of=now)
    # Long enough to serve a stale snapshot while the next one is counted.
    keep = max(3600, 10 * settings.DASHBOARD_REFRESH_SECONDS)
    cache.set_many({size_key: figures.enrolled, figures_key: figures}, timeout=keep)
    cache.delete(lock_key)
    return figures


def _ask_refresh(campaign_id: int) -> None:
    from notifications.dashboard.tasks import refresh_dashboard

    try:
        refresh_dashboard.delay(campaign_id)
    except Exception:  # a broker outage must not break the page
        logger.warning("dashboard refresh of campaign %s not queued", campaign_id)
        cache.delete(_keys(campaign_id)[2])


def dashboard_figures(
    campaign: Campaign, *, now: datetime | None = None
) -> DashboardFigures:
    """The campaign's dashboard figures: counted now for a campaign up to
    DASHBOARD_LIVE_MAX_RECIPIENTS people, else from the latest snapshot
    (``figures.as_of`` says when it was counted)."""
    now = now or timezone.now()
    size_key, figures_key, lock_key = _keys(campaign.pk)
    size = cache.get(size_key)
    if size is None or size <= settings.DASHBOARD_LIVE_MAX_RECIPIENTS:
        figures = campaign_dashboard(campaign, now=now)
        cache.set(size_key, figures.enrolled, timeout=3600)
        return figures
    snapshot: DashboardFigures | None = cache.get(figures_key)
    refresh = settings.DASHBOARD_REFRESH_SECONDS
    age = (now - snapshot.as_of).total_seconds() if snapshot else None
    if snapshot is None or (age > 4 * refresh and not _shared_cache()):
        snapshot = dashboard_refresh(campaign.pk) or snapshot
    elif age > refresh and cache.add(lock_key, 1, timeout=4 * refresh):
        if _shared_cache():
            _ask_refresh(campaign.pk)
        else:
            snapshot = dashboard_refresh(campaign.pk) or snapshot
    # The campaign as it is now (its status, after a pause), and today's
    # days left; the counts as of the snapshot.
    return dataclasses.replace(
        snapshot, campaign=campaign, days_left=_days_left(campaign, now)
    )


def people_count(campaign: Campaign, filters: PeopleFilter, counted: QuerySet) -> int:
    """How many people the list shows: for a large campaign listed by state
    alone (everyone, outstanding, acknowledged), from its snapshot, as the
    dashboard's figures beside it; otherwise counted."""
    plain = PeopleFilter(show=filters.show)
    snapshot = cache.get(_keys(campaign.pk)[1]) if filters == plain else None
    if snapshot is None:
        return counted.count()
    return {
        "all": snapshot.enrolled,
        "acknowledged": snapshot.acknowledged,
    }.get(filters.show, snapshot.outstanding)


def filter_choices(campaign: Campaign) -> dict[str, list[str]]:
    """The people list's filter values: for a large campaign with a
    snapshot, its own departments and countries (the breakdown already
    counted them); otherwise read from the directory (a scan of every
    employee: half a second at 1,000,000)."""
    snapshot = cache.get(_keys(campaign.pk)[1])
    if snapshot is None:
        return people_filter_choices()
    return {
        **people_filter_choices(directory=False),
        "department": [row.value for row in snapshot.breakdown["department"]],
        "country": [row.value for row in snapshot.breakdown["country"]],
    }


def overview_lines(*, now: datetime | None = None) -> list[CampaignLine]:
    """Every campaign's progress for the overview: large campaigns from their
    snapshot when it is recent (a glance; their dashboard says how recent),
    the others counted."""
    now = now or timezone.now()
    ids = list(Campaign.objects.values_list("pk", flat=True))
    keys = {_keys(pk)[1]: pk for pk in ids}
    recent = 4 * settings.DASHBOARD_REFRESH_SECONDS
    known = {
        keys[key]: figures
        for key, figures in cache.get_many(list(keys)).items()
        if (now - figures.as_of).total_seconds() <= recent
    }
    return campaigns_overview(now=now, known=known)
