"""Sending policy: the SEND_* knobs, retry backoff, which errors are worth a retry.

Rules only, no database and no mail: the dispatcher (dispatch.py) sizes its
chunks with them, the senders (claim.py, each.py, batch.py, send.py) decide
from them whether a failed message is retried, failed, or stops the chunk.
Kept apart so that one place answers "how many times, how long, and why".
"""

from __future__ import annotations

import random
import smtplib
from dataclasses import dataclass

from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from django.conf import settings

# --- Settings ----------------------------------------------------------------


@dataclass(frozen=True)
class Knobs:
    chunk_size: int = 100
    batch_template: str = ""
    batch_size: int = 500
    max_attempts: int = 8
    retry_base: float = 30.0
    retry_max: float = 1800.0
    enqueue_lease: float = 60.0
    claim_timeout: float = 60.0
    max_per_tick: int = 100_000


def knobs() -> Knobs:
    """The SEND_* settings (see config/settings.py), with working defaults."""
    default = Knobs()
    return Knobs(
        chunk_size=getattr(settings, "SEND_CHUNK_SIZE", default.chunk_size),
        batch_template=getattr(settings, "EMAIL_BATCH_TEMPLATE", ""),
        batch_size=getattr(settings, "EMAIL_BATCH_SIZE", default.batch_size),
        max_attempts=getattr(settings, "SEND_MAX_ATTEMPTS", default.max_attempts),
        retry_base=getattr(settings, "SEND_RETRY_BASE", default.retry_base),
        retry_max=getattr(settings, "SEND_RETRY_MAX", default.retry_max),
        enqueue_lease=getattr(settings, "SEND_ENQUEUE_LEASE", default.enqueue_lease),
        claim_timeout=getattr(settings, "SEND_CLAIM_TIMEOUT", default.claim_timeout),
    )


def _batching(k: Knobs) -> bool:
    # Batch sending needs an ESP (anymail) and a pass-through template at
    # the ESP whose fields are {{subject}}, {{{body_text}}}, {{{body_html}}}:
    # each person's message is rendered here (what they received stays
    # provable by our hash), the ESP only substitutes it.
    return bool(k.batch_template) and settings.EMAIL_BACKEND.startswith("anymail.")


def chunk_size(k: Knobs | None = None) -> int:
    k = k or knobs()
    return max(1, k.batch_size if _batching(k) else k.chunk_size)


def retry_delay(attempts: int, k: Knobs | None = None) -> float:
    """Exponential backoff with jitter: base·2^(n-1), capped, between half and all of it.

    The jitter spreads the retries of chunks that failed together (an ESP
    outage) so they do not hit the recovering server at the same instant.
    """
    k = k or knobs()
    ceiling = min(k.retry_max, k.retry_base * 2 ** max(0, attempts - 1))
    return ceiling * random.uniform(0.5, 1.0)


# --- Error classification ------------------------------------------------------


def _smtp_code_transient(code: int) -> bool:
    return 400 <= code < 500


def error_is_transient(exc: BaseException) -> bool:
    """Worth retrying later (the same message may well go through)."""
    if isinstance(exc, AnymailRecipientsRefused):
        return False
    if isinstance(exc, AnymailAPIError):
        status = exc.status_code
        return status is None or status == 429 or status >= 500
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _msg in exc.recipients.values()]
        return bool(codes) and all(_smtp_code_transient(c) for c in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return _smtp_code_transient(exc.smtp_code) or exc.smtp_code == -1
    # SMTPServerDisconnected, refused connections, timeouts, DNS (all OSError).
    return isinstance(exc, OSError)


def error_breaks_connection(exc: BaseException) -> bool:
    """The connection itself failed: the rest of the chunk waits for a retry."""
    if isinstance(exc, AnymailAPIError):
        return error_is_transient(exc)
    if isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPDataError):
        return False
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return True
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code in (421, -1)
    return isinstance(exc, OSError)


def _describe(exc: BaseException) -> str:
    status = getattr(exc, "status_code", None)
    prefix = f"HTTP {status}: " if status else ""
    return f"{prefix}{type(exc).__name__}: {exc}"[:2000]
