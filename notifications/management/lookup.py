"""What the staff commands share: finding the campaign a command names."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from notifications.models import Campaign


def campaign_find(ref: str) -> Campaign:
    """The campaign a command names by name, else by id (the staff commands
    that take CAMPAIGN: campaign_status, campaign_links, evidence_bundle)."""
    campaign = Campaign.objects.filter(name=ref).first()
    if campaign is None and ref.isdigit():
        campaign = Campaign.objects.filter(pk=int(ref)).first()
    if campaign is None:
        raise CommandError(_("No campaign with id or name %(ref)r") % {"ref": ref})
    return campaign
