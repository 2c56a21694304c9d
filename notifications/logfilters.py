"""Keep personal acknowledgement tokens out of every log line.

A token in a log is a working credential for whoever reads the logs (it lets
them acknowledge for someone), so paths like ``/a/<token>/`` are masked
before any handler formats a record: Django's 404/500 reports, runserver's
request lines and, with ``--logger-class``, gunicorn's access log.
"""

from __future__ import annotations

import logging
import re

_TOKEN_PATH = re.compile(r"/a/[^/\s?\"']+")
MASK = "/a/[token]"


def mask(text: str) -> str:
    return _TOKEN_PATH.sub(MASK, text)


class MaskTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is not ours to fix
            return True
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


try:
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # pragma: no cover - gunicorn is a runtime dependency
    _GunicornLogger = object  # type: ignore[misc,assignment]


class GunicornLogger(_GunicornLogger):  # type: ignore[misc,valid-type]
    """``gunicorn --logger-class notifications.logfilters.GunicornLogger``:
    the access log with tokens masked in the request line and the URL."""

    def atoms(self, resp, req, environ, request_time):  # type: ignore[no-untyped-def]
        atoms = super().atoms(resp, req, environ, request_time)
        for key, value in atoms.items():
            if isinstance(value, str):
                atoms[key] = mask(value)
        return atoms
