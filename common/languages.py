"""The 24 official languages of the European Union, the ones the product speaks.

Model fields take their choices from this fixed list, not from the
``LANGUAGES`` setting, so that an organisation narrowing the languages it uses
(a setting) never needs a database migration. Forms and imports accept only
the configured ``settings.LANGUAGES``.
"""

from __future__ import annotations

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
