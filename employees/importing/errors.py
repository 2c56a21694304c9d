"""``ImportFileError``: the file as a whole cannot be used. Its own module so
that the reading stage and the limits it enforces can both raise it."""

from __future__ import annotations

from django.utils.translation import gettext as _


class ImportFileError(Exception):
    """The file as a whole cannot be used (exit status 2)."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        if self.line:
            return _("line %(line)s: %(message)s") % {
                "line": self.line,
                "message": self.message,
            }
        return self.message
