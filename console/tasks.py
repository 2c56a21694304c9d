"""Celery wrappers of the console's services: thin, they call one service."""

from __future__ import annotations

from celery import shared_task

from console.bundle.jobs import bundle_run
from console.retention import purge_expired


@shared_task(name="audit.purge_expired")
def purge_expired_task() -> dict[str, int]:
    report = purge_expired()
    return {"campaigns": len(report.campaigns), "employees": len(report.employees)}


@shared_task(name="console.build_evidence_bundle")
def build_evidence_bundle(job_id: int) -> None:
    bundle_run(job_id)
