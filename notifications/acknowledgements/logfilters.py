"""Keep personal acknowledgement tokens out of every log line.

A token in a log is a working credential for whoever reads the logs (it lets
them acknowledge for someone), so paths like ``/a/<token>/`` are masked
before any handler formats a record: Django's 404/500 reports, runserver's
request lines and, with ``--logger-class``, gunicorn's access and error logs.

Everything from ``/a/`` to the end of the path is masked, not only the first
segment: a token split by an encoded slash (``/a/<half>%2F<half>/``, which
the server decodes into two segments) or followed by extra segments or a
query string must not leave its tail in the log. ``/a/`` is recognised
percent-encoded too (``/a%2F``, ``/%61/``): the server decodes the path once,
so those reach the link page while the raw request line keeps the encoding.
"""

from __future__ import annotations

import logging
import re

MASK = "/a/[token]"

_SLASH = r"(?:/|%(?:25)*2[fF])"
_LINK = _SLASH + r"(?:a|%(?:25)*61)" + _SLASH
# In running text (a request line, a message) the path ends at the first
# white space; a value known to be a path (it starts with "/": Django's
# request.path, the WSGI PATH_INFO) is masked to its end, since a decoded
# path may itself contain spaces or quotes.
_IN_TEXT = re.compile(_LINK + r"\S*")
_IN_PATH = re.compile(_LINK + r".*", re.DOTALL)


def mask(text: str) -> str:
    """``text`` with every link path masked, each up to the next white space."""
    return _IN_TEXT.sub(MASK, text)


def mask_path(path: str) -> str:
    """A path (or a URL) with everything from its ``/a/`` on masked."""
    return _IN_PATH.sub(MASK, path, count=1)


def _mask_value(value: str) -> str:
    return mask_path(value) if value.startswith("/") else mask(value)


class MaskTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and args:
            # Django logs the path as an argument ("Not Found: %s"): masked
            # whole before it is merged into the message.
            record.args = tuple(
                _mask_value(arg) if isinstance(arg, str) else arg for arg in args
            )
        try:
            message = record.getMessage()
        except Exception:  # a broken record is not ours to fix
            return True
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            # An exception's message may quote the path: then the traceback
            # is formatted here, masked, and handlers print that text.
            trace = _FORMATTER.formatException(record.exc_info)
            if mask(trace) != trace:
                record.exc_text = mask(trace)
        return True


_FORMATTER = logging.Formatter()


try:
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # pragma: no cover - gunicorn is a runtime dependency
    _GunicornLogger = object  # type: ignore[misc,assignment]


class GunicornLogger(_GunicornLogger):  # type: ignore[misc,valid-type]
    """``gunicorn --logger-class notifications.logfilters.GunicornLogger``:
    the access log with tokens masked in every atom (request line, path,
    query, referer, headers, environment), and the error log ("Error
    handling request /a/...", "Invalid request ...") through MaskTokens."""

    def setup(self, cfg):  # type: ignore[no-untyped-def]
        super().setup(cfg)  # run again on each configuration reload
        if not any(isinstance(f, MaskTokens) for f in self.error_log.filters):
            self.error_log.addFilter(MaskTokens())

    def atoms(self, resp, req, environ, request_time):  # type: ignore[no-untyped-def]
        atoms = super().atoms(resp, req, environ, request_time)
        for key, value in atoms.items():
            if isinstance(value, str):
                atoms[key] = _mask_value(value)
        return atoms
