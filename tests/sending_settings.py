"""Settings for worker processes started by the sending tests and the bench.

config/settings.py plus the sending knobs read from the environment, so a test
can make backoffs and leases short in the worker it starts. (Once these lines
are in config/settings.py this module is just the import.)
"""

from __future__ import annotations

from config.env import env_float, env_int, env_str
from config.settings import *  # noqa: F403

SEND_CHUNK_SIZE = env_int("SEND_CHUNK_SIZE", 100, minimum=1)
EMAIL_BATCH_TEMPLATE = env_str("EMAIL_BATCH_TEMPLATE", "")
EMAIL_BATCH_SIZE = env_int("EMAIL_BATCH_SIZE", 500, minimum=1)
SEND_MAX_ATTEMPTS = env_int("SEND_MAX_ATTEMPTS", 8, minimum=1)
SEND_RETRY_BASE = env_float("SEND_RETRY_BASE", 30.0, minimum=0.0)
SEND_RETRY_MAX = env_float("SEND_RETRY_MAX", 1800.0, minimum=0.0)
SEND_ENQUEUE_LEASE = env_float("SEND_ENQUEUE_LEASE", 600.0, minimum=1.0)
SEND_CLAIM_TIMEOUT = env_float("SEND_CLAIM_TIMEOUT", 900.0, minimum=1.0)
# Tests give each worker its own queue; the dispatcher running in that worker
# must enqueue its chunks there too.
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "celery")
EMAIL_RATE_LIMIT = env_float("EMAIL_RATE_LIMIT", 0.0, minimum=0.0)
