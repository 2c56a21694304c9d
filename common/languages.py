"""The 24 official languages of the European Union, the ones the product speaks.

Model fields take their choices from this fixed list, not from the
``LANGUAGES`` setting, so that an organisation narrowing the languages it uses
(a setting) never needs a database migration. Forms and imports accept only
the configured ``settings.LANGUAGES``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# (code, name in the language itself), in the order of the codes.
EU_LANGUAGES: tuple[tuple[str, str], ...] = (
    ("bg", "Български"),
    ("cs", "Čeština"),
    ("da", "Dansk"),
    ("de", "Deutsch"),
    ("el", "Ελληνικά"),
    ("en", "English"),
    ("es", "Español"),
    ("et", "Eesti"),
    ("fi", "Suomi"),
    ("fr", "Français"),
    ("ga", "Gaeilge"),
    ("hr", "Hrvatski"),
    ("hu", "Magyar"),
    ("it", "Italiano"),
    ("lt", "Lietuvių"),
    ("lv", "Latviešu"),
    ("mt", "Malti"),
    ("nl", "Nederlands"),
    ("pl", "Polski"),
    ("pt", "Português"),
    ("ro", "Română"),
    ("sk", "Slovenčina"),
    ("sl", "Slovenščina"),
    ("sv", "Svenska"),
)

EU_LANGUAGE_CODES: frozenset[str] = frozenset(code for code, _name in EU_LANGUAGES)


def _fold(text: str) -> str:
    """Lower case, no accents, punctuation folded to single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", " ", plain).strip()


# Names a file or an identity provider may give instead of a code, folded.
# Extended with each language's English and French names.
_NAMES: dict[str, str] = {_fold(name): code for code, name in EU_LANGUAGES}
_NAMES.update({"english": "en", "anglais": "en", "french": "fr", "francais": "fr"})


def match_language(raw: str, allowed: Iterable[str]) -> str | None:
    """The code in ``allowed`` that ``raw`` names, or None.

    Accepts a code (``de``), a regional code in either spelling (``de-AT``,
    ``pt_BR`` → the base language) and a language's name (``Deutsch``).
    """
    allowed = set(allowed)
    key = _fold(raw)
    if not key:
        return None
    code = _NAMES.get(key) or key.split(" ")[0]
    return code if code in allowed else None
