"""Bundles asked for on the evidence page: a row per build with its progress,
built in the request when the campaign is small, by the worker otherwise.

The file goes to ``VAR_DIR/evidence-bundles/`` under a random name and is
downloaded through a permission-checked view, never served as a static
file.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from console.bundle import building, keys, timestamping
from console.models import EvidenceBundle
from events.outbox import emit
from notifications.models import Campaign, Delivery

logger = logging.getLogger(__name__)
# A build whose row has not moved for this long lost its worker: a new one
# may be asked for.
STALLED_AFTER = timedelta(minutes=10)


def bundle_dir() -> Path:
    return Path(settings.VAR_DIR) / "evidence-bundles"


def bundle_path(job: EvidenceBundle) -> Path:
    return bundle_dir() / job.file_name


def bundle_in_progress(campaign: Campaign) -> EvidenceBundle | None:
    return (
        EvidenceBundle.objects.filter(
            campaign=campaign,
            status__in=(EvidenceBundle.Status.QUEUED, EvidenceBundle.Status.RUNNING),
            updated_at__gte=timezone.now() - STALLED_AFTER,
        )
        .order_by("-created_at")
        .first()
    )


def bundle_request(*, campaign: Campaign, user: Any) -> tuple[EvidenceBundle, bool]:
    """A new build (or the one already under way): (job, queued for the
    worker). A small campaign's bundle is built before this returns."""
    running = bundle_in_progress(campaign)
    if running is not None:
        return running, True
    recipients = campaign.recipients.count()
    total = recipients + Delivery.objects.filter(step__campaign=campaign).count()
    job = EvidenceBundle.objects.create(
        campaign=campaign,
        requested_by=user if getattr(user, "pk", None) else None,
        rows_total=total,
        file_name=f"{secrets.token_urlsafe(18)}.zip",
    )
    if recipients <= settings.EVIDENCE_BUNDLE_SYNC_MAX_RECIPIENTS:
        bundle_run(job.pk)
        job.refresh_from_db()
        return job, False
    from console.tasks import build_evidence_bundle

    transaction.on_commit(lambda: build_evidence_bundle.delay(job.pk))
    return job, True


def _progress(job_id: int):
    def report(done: int, total: int) -> None:
        EvidenceBundle.objects.filter(pk=job_id).update(
            rows_done=done, rows_total=total, updated_at=timezone.now()
        )

    return report


def bundle_run(job_id: int) -> None:
    """Build one requested bundle (the worker's task, or the request's)."""
    claimed = EvidenceBundle.objects.filter(
        pk=job_id, status=EvidenceBundle.Status.QUEUED
    ).update(status=EvidenceBundle.Status.RUNNING, updated_at=timezone.now())
    if not claimed:
        return  # a duplicate message: another run has it
    job = EvidenceBundle.objects.select_related("campaign", "requested_by").get(
        pk=job_id
    )
    bundle_dir().mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        built = building.bundle_to_path(
            bundle_path(job),
            campaign=job.campaign,
            actor=job.requested_by,
            progress=_progress(job.pk),
        )
    except (keys.SigningKeyError, timestamping.TimestampError, OSError) as exc:
        EvidenceBundle.objects.filter(pk=job.pk).update(
            status=EvidenceBundle.Status.FAILED,
            error=str(exc),
            finished_at=timezone.now(),
        )
        return
    except Exception:
        logger.exception("evidence bundle %s failed", job.pk)
        EvidenceBundle.objects.filter(pk=job.pk).update(
            status=EvidenceBundle.Status.FAILED,
            error=_("An unexpected error; the server's log has the details."),
            finished_at=timezone.now(),
        )
        raise
    with transaction.atomic():
        EvidenceBundle.objects.filter(pk=job.pk).update(
            status=EvidenceBundle.Status.DONE,
            rows_done=built.counts["recipients"] + built.counts["messages"],
            size=built.size,
            sha256=built.sha256,
            key_fingerprint=built.fingerprint,
            timestamped_at=built.timestamp.time if built.timestamp else None,
            finished_at=timezone.now(),
        )
        # Thin, as every webhook: ids, the file's hash and the signing key.
        emit(
            "evidence.ready",
            {
                "campaign_id": job.campaign_id,
                "reference": job.campaign.reference,
                "bundle_id": job.pk,
                "sha256": built.sha256,
                "size": built.size,
                "key_fingerprint": built.fingerprint,
                "timestamped": built.timestamp is not None,
            },
        )


def bundles_delete(campaign_id: int) -> int:
    """Delete a campaign's built bundles, files and rows (a retention purge:
    the records in them hold personal data the purge has just removed). The
    audit log keeps each build's entry with the bundle's SHA-256."""
    jobs = EvidenceBundle.objects.filter(campaign_id=campaign_id)
    for job in jobs.exclude(file_name=""):
        bundle_path(job).unlink(missing_ok=True)
    deleted, _by_model = jobs.delete()
    return deleted
