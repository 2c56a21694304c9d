"""Settings for worker processes started by the sending tests and the bench.

The sending knobs (SEND_RETRY_BASE, SEND_ENQUEUE_LEASE, ...) are read from the
environment by config/settings.py, so a test makes backoffs and leases short in
the worker it starts through its environment; this module is kept as the name
the worker tests pass as DJANGO_SETTINGS_MODULE.
"""

from __future__ import annotations

from config.settings import *  # noqa: F403
