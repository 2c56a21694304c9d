"""The scheduled directory sync (beat, ``DIRECTORY_SYNC_SCHEDULE``): the
same ``directory_sync`` as ``manage.py sync_directory``, without a
confirmation, so a sync that would deactivate more than
IMPORT_DEACTIVATE_WARN_PERCENT of the staff is refused and waits for a
person (its run says so in Staff imports)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from directory.ldap.schedule import TASK
from directory.ldap.sync import directory_sync


@shared_task(name=TASK)
def ldap_sync() -> str:
    outcome = directory_sync(
        skip_invalid=settings.DIRECTORY_SYNC_SKIP_INVALID, actor="beat"
    )
    if outcome.run is None:
        return f"not run: {outcome.error}"
    return outcome.run.status
