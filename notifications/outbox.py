"""Public dotted path of the local outbox backend: ``EMAIL_BACKEND=
notifications.outbox.EmailBackend`` (the default, and what deployments put in
their environment). The code lives in notifications/delivery/outbox.py; this
name is kept so that no setting has to change."""

from notifications.delivery.outbox import EmailBackend

__all__ = ["EmailBackend"]
