"""The dashboard's background task: counting a large campaign's figures
again (snapshots.py)."""

from __future__ import annotations

from celery import shared_task

from notifications.dashboard.snapshots import dashboard_refresh


@shared_task(name="notifications.refresh_dashboard", ignore_result=True)
def refresh_dashboard(campaign_id: int) -> None:
    dashboard_refresh(campaign_id)
