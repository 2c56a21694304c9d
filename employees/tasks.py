"""Background work of the staff import: thin wrappers around the services.

Enqueued with ``delay_on_commit`` so a worker never looks for a run whose
row is not committed yet.

No ``acks_late``: the services claim the run with a conditional UPDATE
(PENDING -> ANALYSING, CONFIRMED -> IMPORTING), so a redelivered message
finds the run already claimed and does nothing. On Redis a long task with
``acks_late`` would also be redelivered to a second worker once the
visibility timeout passes. A worker that dies mid-run is handled by the
``requeue_stalled_imports`` beat task instead: no progress for ten minutes
puts the run back in the queue (its transaction never committed).
"""

from __future__ import annotations

from celery import shared_task

from employees import services


@shared_task(name="employees.analyse_import")
def analyse_import(run_id: int) -> str:
    return services.import_run_analyse(run_id=run_id).status


@shared_task(name="employees.commit_import")
def commit_import(run_id: int) -> str:
    return services.import_run_commit(run_id=run_id).status


@shared_task(name="employees.requeue_stalled_imports")
def requeue_stalled_imports() -> int:
    """Beat: a run whose worker died (no progress for STALLED_AFTER) is queued
    again; nothing of it was written, so running it again is safe."""
    requeued = services.import_runs_requeue_stalled()
    for run_id, task in requeued:
        (analyse_import if task == "analyse" else commit_import).delay(run_id)
    return len(requeued)
