"""Background work of the staff import: thin wrappers around the services.

Enqueued with ``delay_on_commit`` so a worker never looks for a run whose
row is not committed yet.

No ``acks_late``: the services claim the run with a conditional UPDATE
(PENDING -> ANALYSING, PREVIEW -> IMPORTING), so a redelivered message would
find the run already claimed and do nothing; re-running after a crash needs
a person to decide (upload again), not an automatic redelivery. On Redis a
long task with ``acks_late`` is also redelivered to a second worker once the
visibility timeout passes, which is the opposite of what we want.
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
