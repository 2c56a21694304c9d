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
    """Lower case, no accents, punctuation folded to single spaces; letters
    of every script kept (Ελληνικά, български)."""
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[\W_]+", " ", plain).strip()


# Each language's name in English and in French, in the order of the codes.
ENGLISH_NAMES: dict[str, str] = {
    "bg": "Bulgarian", "cs": "Czech", "da": "Danish", "de": "German",
    "el": "Greek", "en": "English", "es": "Spanish", "et": "Estonian",
    "fi": "Finnish", "fr": "French", "ga": "Irish", "hr": "Croatian",
    "hu": "Hungarian", "it": "Italian", "lt": "Lithuanian", "lv": "Latvian",
    "mt": "Maltese", "nl": "Dutch", "pl": "Polish", "pt": "Portuguese",
    "ro": "Romanian", "sk": "Slovak", "sl": "Slovenian", "sv": "Swedish",
}  # fmt: skip
FRENCH_NAMES: dict[str, str] = {
    "bg": "bulgare", "cs": "tchèque", "da": "danois", "de": "allemand",
    "el": "grec", "en": "anglais", "es": "espagnol", "et": "estonien",
    "fi": "finnois", "fr": "français", "ga": "irlandais", "hr": "croate",
    "hu": "hongrois", "it": "italien", "lt": "lituanien", "lv": "letton",
    "mt": "maltais", "nl": "néerlandais", "pl": "polonais", "pt": "portugais",
    "ro": "roumain", "sk": "slovaque", "sl": "slovène", "sv": "suédois",
}  # fmt: skip
# Other spellings met in HR files and directories: older or adjectival
# native forms, English variants, and the three-letter ISO 639-2 codes
# (bibliographic and terminology forms) some systems store.
_OTHER_NAMES: dict[str, tuple[str, ...]] = {
    "bg": ("български език", "bul"),
    "cs": ("česky", "český", "čeština", "czech language", "ces", "cze"),
    "da": ("dan",),
    "de": ("deu", "ger"),
    "el": ("ελληνική", "greek modern", "ell", "gre"),
    "en": ("eng",),
    "es": ("castellano", "castilian", "espagnol castillan", "spa"),
    "et": ("eesti keel", "est"),
    "fi": ("suomen kieli", "fin"),
    "fr": ("fra", "fre"),
    "ga": ("gaelic", "irish gaelic", "gle"),
    "hr": ("hrvatski jezik", "hrv"),
    "hu": ("hun",),
    "it": ("ita",),
    "lt": ("lietuvių kalba", "lietuviškai", "lit"),
    "lv": ("latviešu valoda", "lettish", "lav"),
    "mt": ("mlt",),
    "nl": ("flemish", "vlaams", "flamand", "nld", "dut"),
    "pl": ("język polski", "pol"),
    "pt": ("portugues", "por"),
    "ro": ("moldovan", "ron", "rum"),
    "sk": ("slovenský", "slovensky", "slovenský jazyk", "slk", "slo"),
    "sl": ("slovenski", "slovene", "slovenski jezik", "slv"),
    "sv": ("swe",),
}


def _all_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for code, native in EU_LANGUAGES:
        spellings = (native, ENGLISH_NAMES[code], FRENCH_NAMES[code])
        for name in spellings + _OTHER_NAMES.get(code, ()):
            names[_fold(name)] = code
    return names


# Names a file or an identity provider may give instead of a code, folded:
# the language's own name, its English and French names, other spellings.
_NAMES: dict[str, str] = _all_names()


def match_language(raw: str, allowed: Iterable[str]) -> str | None:
    """The code in ``allowed`` that ``raw`` names, or None.

    Accepts a code (``de``), a regional code in either spelling (``de-AT``,
    ``pt_BR`` → the base language) and a language's name (``Deutsch``).
    """
    allowed = set(allowed)
    key = _fold(raw)
    if not key:
        return None
    first = key.split(" ")[0]
    # "pt-BR", "de_AT" → the code before the region; "Portuguese (Brazil)",
    # "Deutsch (Österreich)" → the name before the qualifier.
    code = _NAMES.get(key) or _NAMES.get(first) or first
    return code if code in allowed else None


def complete_django_lang_info() -> None:
    """Django's language table (django.conf.locale.LANG_INFO) lacks Maltese:
    translation.get_language_info("mt") would raise KeyError (the page's
    language menu and the admin use it). Add it, and give the 24 the names
    above, which people use for their language in a menu: "Čeština",
    "Slovenčina", "Lietuvių" where Django has the adverbs "česky",
    "slovensky", "Lietuviškai". Called from the settings, before any
    translation is looked up."""
    from django.conf.locale import LANG_INFO

    for code, native in EU_LANGUAGES:
        info = LANG_INFO.setdefault(
            code, {"bidi": False, "code": code, "name": ENGLISH_NAMES[code]}
        )
        info["name_local"] = native
