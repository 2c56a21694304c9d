"""The Celery application. Settings come from Django's, under CELERY_*."""

from __future__ import annotations

import os

from celery import Celery, signals
from celery.schedules import crontab
from django.db import close_old_connections

from config.env import env_float, env_str
from directory.ldap.schedule import beat_entries

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("notify")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The campaign app keeps its tasks beside the sending code they wrap.
app.autodiscover_tasks(["notifications.delivery", "notifications.dashboard"])
# The directory pull keeps its task beside its code too.
app.autodiscover_tasks(["directory.ldap"])


@signals.task_prerun.connect
@signals.task_postrun.connect
def _database_connections_around_task(sender: object = None, **_: object) -> None:
    # As around a web request: a connection that broke or outlived
    # DATABASE_CONN_MAX_AGE is closed, the others are kept for the next task
    # (CELERY_DB_REUSE_MAX in config/settings.py turns Celery's own closing
    # off). Not for a task run eagerly inside the caller's transaction.
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return
    close_old_connections()


@app.task(name="config.ping")
def ping(value: str = "pong") -> str:
    """A trivial round trip, used by tests and `celery inspect` to prove the wiring."""
    return value


# The dispatcher's tick. Scheduling lives in the database (Step.due_at,
# Delivery.next_attempt_at) and this one periodic task; a tick that could not
# run in its interval (workers down) expires rather than piling up.
DISPATCH_INTERVAL = env_float("DISPATCH_INTERVAL", 20.0, minimum=1.0)
WEBHOOK_SWEEP_INTERVAL = env_float("WEBHOOK_SWEEP_INTERVAL", 10.0, minimum=1.0)
app.conf.beat_schedule = {
    "notifications-dispatch": {
        "task": "notifications.dispatch",
        "schedule": DISPATCH_INTERVAL,
        "options": {"expires": DISPATCH_INTERVAL},
    },
    # Staff imports whose worker died: queued again after ten quiet minutes.
    "employees-requeue-stalled-imports": {
        "task": "employees.requeue_stalled_imports",
        "schedule": 300.0,
        "options": {"expires": 300.0},
    },
    # Webhooks: claims of killed workers taken back, due retries sent, any
    # event whose nudge was lost picked up (events/delivering.py).
    "events-sweep": {
        "task": "events.sweep",
        "schedule": WEBHOOK_SWEEP_INTERVAL,
        "options": {"expires": WEBHOOK_SWEEP_INTERVAL},
    },
    # Retention: anonymise expired campaigns and long-gone employees, nightly.
    "audit-purge-expired": {
        "task": "audit.purge_expired",
        "schedule": crontab(hour=3, minute=30),
        "options": {"expires": 3600},
    },
    # The LDAP / Active Directory pull, when DIRECTORY_SYNC_SCHEDULE is set.
    **beat_entries(env_str("DIRECTORY_SYNC_SCHEDULE", "")),
}
# Two queues, so that sending never waits behind long work. The default queue
# (CELERY_TASK_DEFAULT_QUEUE, "celery") carries the dispatcher's tick, the
# send chunks, webhooks and the beat's small jobs; BULK_QUEUE carries what may
# run for minutes: staff imports (a 300,000-row file), the LDAP pull, the
# nightly retention purge and evidence bundles. The Procfile runs one worker
# for each (README, "Queues"); the demo's single worker serves both. A new
# long task gets its name added here (tests/config/test_queues.py checks the
# README's table agrees).
BULK_QUEUE = "bulk"
BULK_TASKS = (
    "employees.analyse_import",
    "employees.commit_import",
    "audit.purge_expired",
    "directory.ldap_sync",
    "console.build_evidence_bundle",
)
app.conf.task_routes = {name: {"queue": BULK_QUEUE} for name in BULK_TASKS}
# With acks_late, every message a worker prefetched is unacknowledged until
# it has run; take one at a time so a killed worker strands one chunk, not a
# window of them (a stranded chunk waits for Redis' visibility timeout or our
# lease to expire).
app.conf.worker_prefetch_multiplier = 1
