"""What the directory tells the domains above it.

The directory knows nothing of campaigns. A domain that keeps its own copy of
an address (a campaign's recipients, a bounced status it set) listens here,
the way django-anymail's ``tracking`` signal lets a webhook never import its
consumers. Sent once per batch (a whole import, one admin edit), inside the
writer's transaction, so a listener's changes commit or roll back with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.dispatch import Signal


@dataclass(frozen=True)
class AddressChange:
    employee_id: int
    email: str
    previous_email: str


# Receivers get ``changes``: a sequence of AddressChange.
addresses_changed = Signal()


def addresses_changed_send(*, sender: type, changes: Sequence[AddressChange]) -> None:
    """Tell the listeners, once, about every address a batch changed."""
    if changes:
        addresses_changed.send(sender=sender, changes=list(changes))
