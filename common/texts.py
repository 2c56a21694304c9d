"""Texts the application stores for people to read later (why a message was
skipped or failed, why a step closed).

They are stored in the source language, English, whatever language the
process that wrote them was running in (a worker runs in LANGUAGE_CODE, not
in the reader's language), and translated when shown: ``gettext_noop`` when
writing, ``shown`` when reading. A stored text that is not one of ours (an
ESP's or a mail server's own words, or a row written in another language
before this rule) has no entry in the catalogue and is shown as stored.
"""

from __future__ import annotations

from django.utils.functional import lazy
from django.utils.translation import gettext


def shown(stored: str) -> str:
    """A stored text in the reader's language (see the module's docstring)."""
    return gettext(stored) if stored else stored


def choice_label(choices: type, value: str) -> str:
    """A stored choice (a status, a step's kind) as people read it: its
    label in the reader's language, or the value as stored when it is not
    one of ``choices`` (a row written before a choice was renamed)."""
    return str(choices(value).label) if value in choices.values else value


# For a value kept beyond the request (the dashboard's snapshot, computed by
# a worker and read by people in several languages): translated when shown.
shown_lazy = lazy(shown, str)
