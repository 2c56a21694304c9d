"""`python manage.py send_due`: one dispatcher tick now, sending in this process.

For deployments without Celery (cron every minute) and for debugging. With
--enqueue the chunks go to the Celery workers instead, as beat's tick does.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

from notifications.delivery.claim import SendReport
from notifications.delivery.dispatch import dispatch_tick
from notifications.delivery.send import deliveries_send


class Command(BaseCommand):
    help = _("Dispatch the due campaign steps and send the due messages now.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--enqueue",
            action="store_true",
            help=_("Hand the messages to the Celery workers instead of sending here."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        totals = SendReport()

        def send_now(ids: list[int]) -> None:
            result = deliveries_send(ids)
            for name in ("claimed", "sent", "skipped", "retried", "failed"):
                setattr(totals, name, getattr(totals, name) + getattr(result, name))
            totals.errors += result.errors

        if options["enqueue"]:
            from notifications.delivery.tasks import enqueue_chunk

            tick = dispatch_tick(enqueue=enqueue_chunk)
        else:
            tick = dispatch_tick(enqueue=send_now)
        for name, value in asdict(tick).items():
            self.stdout.write(f"{name}: {value}")
        if not options["enqueue"]:
            for name in ("sent", "skipped", "retried", "failed"):
                self.stdout.write(f"{name}: {getattr(totals, name)}")
            for error in totals.errors[:20]:
                self.stderr.write(error)
