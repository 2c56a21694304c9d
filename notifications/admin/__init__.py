"""The DPO's screens in the admin; Django imports this package to register them."""

from notifications.admin import campaigns  # noqa: F401
