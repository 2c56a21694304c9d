"""A big step reaches the workers slice by slice (PostgreSQL: waves.StepRows,
dispatch.step_dispatch), and a dispatch stopped half-way is finished by a
later tick, adding only the missing rows and handing none over twice."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.campaigns import services
from notifications.delivery import dispatch, waves
from notifications.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Step,
    StepKind,
    StepStatus,
)
from tests.notifications.delivery.test_sending import launched, step_of

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PEOPLE = 10


@pytest.fixture
def small_slices(monkeypatch, settings):
    monkeypatch.setattr(dispatch, "SLICE_ROWS", 3)
    settings.SEND_CHUNK_SIZE = 2  # 10 people: slices of 2 (one chunk), 3, 3, 2
    settings.SEND_ENQUEUE_LEASE = 600  # no lease expires within a test
    settings.SEND_CLAIM_TIMEOUT = 30


def _first_step(campaign: Campaign) -> Step:
    return step_of(campaign, StepKind.FIRST)


def test_the_workers_get_the_first_rows_before_the_last_are_written(small_slices):
    campaign = launched(PEOPLE)
    seen = []  # (step status, rows written) when each chunk is handed over

    def enqueue(chunk):
        seen.append(
            (
                _first_step(campaign).status,
                Delivery.objects.filter(step__campaign=campaign).count(),
                list(chunk),
            )
        )

    report = dispatch.dispatch_tick(enqueue=enqueue)
    assert report.deliveries_created == PEOPLE and report.enqueued == PEOPLE
    status, written, chunk = seen[0]
    # The first slice is one chunk: the workers start on it at once.
    assert status == StepStatus.DISPATCHING and written == len(chunk) == 2
    assert [written for _s, written, _c in seen][-1] == PEOPLE
    handed = [pk for _s, _w, chunk in seen for pk in chunk]
    assert sorted(handed) == sorted(
        Delivery.objects.filter(step__campaign=campaign).values_list("pk", flat=True)
    )
    assert _first_step(campaign).status == StepStatus.DONE
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.RUNNING


def test_a_dispatch_stopped_half_way_is_finished_by_a_later_tick(
    small_slices, monkeypatch
):
    campaign = launched(PEOPLE)
    create = waves.StepRows.create
    slices = Counter()

    def dies_at_the_third_slice(self, bounds=(None, None)):
        slices["written"] += 1
        if slices["written"] == 3:
            raise SystemExit("the beat's process was killed")
        return create(self, bounds)

    handed: list[int] = []
    monkeypatch.setattr(waves.StepRows, "create", dies_at_the_third_slice)
    with pytest.raises(SystemExit):
        dispatch.dispatch_tick(enqueue=handed.extend)
    monkeypatch.setattr(waves.StepRows, "create", create)
    step = _first_step(campaign)
    assert step.status == StepStatus.DISPATCHING
    assert Delivery.objects.filter(step=step).count() == 5
    assert len(handed) == 5  # the two slices committed went to the workers

    # Within the claim timeout the stopped dispatcher might still be alive:
    # a tick leaves its step alone.
    report = dispatch.dispatch_tick(enqueue=handed.extend)
    assert report.steps_dispatched == 0 and len(handed) == 5

    later = timezone.now() + timedelta(seconds=31)
    report = dispatch.dispatch_tick(enqueue=handed.extend, now=later)
    assert report.steps_dispatched == 1 and report.deliveries_created == PEOPLE
    rows = Delivery.objects.filter(step=step)
    assert sorted(handed) == sorted(rows.values_list("pk", flat=True))  # once each
    assert rows.values("recipient").distinct().count() == PEOPLE
    step.refresh_from_db()
    assert step.status == StepStatus.DONE and step.dispatched_at == later


def test_a_campaign_cancelled_while_its_step_is_written_stops_it(small_slices):
    campaign = launched(PEOPLE)

    def cancel_at_the_first_chunk(chunk):
        if Campaign.objects.get(pk=campaign.pk).status != CampaignStatus.CANCELLED:
            services.campaign_cancel(campaign=Campaign.objects.get(pk=campaign.pk))

    dispatch.dispatch_tick(enqueue=cancel_at_the_first_chunk)
    step = _first_step(campaign)
    assert step.status == StepStatus.SKIPPED
    rows = Delivery.objects.filter(step=step)
    assert 0 < rows.count() < PEOPLE  # the later slices were never written
    assert not rows.filter(status=DeliveryStatus.QUEUED).exists()
    # Nothing left for a later tick either.
    later = timezone.now() + timedelta(seconds=31)
    assert dispatch.dispatch_tick(enqueue=list, now=later).steps_dispatched == 0
