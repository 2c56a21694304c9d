"""The DPO's screens in the admin; Django imports this package to register them.

- campaigns.py: campaigns (settings, text, steps, lifecycle, preview, links);
  the dashboard's pages hang off its URLs;
- forms.py: the campaign page's forms (and the answer options' rows);
- notes.py: what the campaign page says in words (steps, save warnings,
  steps the send window folds together);
- records.py: recipients (and the correction by hand) and deliveries;
- addresses.py: the addresses that bounced, for HR.
"""

from notifications.admin import addresses, campaigns, records  # noqa: F401
