"""The 24 official EU languages: the setting, Django's tables, the
catalogues of everything an employee reads, and dates in each language.

The catalogue checks use the GNU gettext tools (xgettext to find what the
employee templates mark, msgfmt to read catalogues), as makemessages does:
locally a machine without them skips with the reason; in CI they must run.
"""

from __future__ import annotations

import gettext
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import formats, translation
from django.utils.translation.template import templatize

from common.languages import EU_LANGUAGE_CODES
from common.localdates import date_and_time, deadline_moment, long_date
from notifications.campaigns import content
from tests.services import require

ROOT = Path(settings.BASE_DIR)
# What an employee (or a manager, for the digest) reads: the pages behind a
# personal link, the e-mails, the printed letter, the error pages; and the
# Python that writes into them (the form, the deadline, the mail's button).
EMPLOYEE_TEMPLATES = [
    *sorted((ROOT / "templates" / "ack").glob("*.html")),
    *sorted((ROOT / "templates" / "emails").glob("*")),
    ROOT / "templates" / "404.html",
    ROOT / "templates" / "500.html",
    ROOT / "templates" / "admin" / "notifications" / "campaign" / "letters.html",
]
EMPLOYEE_PYTHON = [
    ROOT / "notifications" / "acknowledgements" / "forms.py",
    ROOT / "notifications" / "campaigns" / "content.py",
]
# makemessages' own keywords for Python (django/core/management/commands).
KEYWORDS = [
    "--keyword=gettext_noop",
    "--keyword=gettext_lazy",
    "--keyword=ngettext_lazy:1,2",
    "--keyword=pgettext:1c,2",
    "--keyword=npgettext:1c,2,3",
    "--keyword=pgettext_lazy:1c,2",
    "--keyword=npgettext_lazy:1c,2,3",
]
PARIS = ZoneInfo("Europe/Paris")


def _require_gettext_tools() -> None:
    missing = [t for t in ("xgettext", "msgen", "msgfmt") if not shutil.which(t)]
    require(
        not missing,
        f"GNU gettext tools missing ({', '.join(missing)}): apt-get install gettext",
    )


def _run(*args: str | Path) -> None:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{args[0]} failed:\n{done.stdout}{done.stderr}"


def _read_mo(mo: Path) -> dict:
    with mo.open("rb") as f:
        catalog = dict(gettext.GNUTranslations(f)._catalog)
    catalog.pop("", None)  # the header
    return catalog


def _served(po: Path, mo: Path) -> dict:
    """What gettext serves from ``po``: translated, non-fuzzy entries only."""
    _run("msgfmt", "--check-format", "-o", mo, po)
    return _read_mo(mo)


@pytest.fixture(scope="module")
def employee_msgids(tmp_path_factory) -> set:
    """Every message the employee templates and their Python mark, as gettext
    keys (a plural is its singular and plural joined by NUL)."""
    _require_gettext_tools()
    tmp = tmp_path_factory.mktemp("employee-strings")
    sources = []
    for i, template in enumerate(EMPLOYEE_TEMPLATES):
        out = tmp / f"template{i}.py"
        out.write_text(templatize(template.read_text(), origin=str(template)))
        sources.append(out)
    pot = tmp / "employee.pot"
    _run(
        "xgettext", "--language=Python", "--from-code=UTF-8", *KEYWORDS,
        "-o", pot, *sources, *EMPLOYEE_PYTHON,
    )  # fmt: skip
    # xgettext leaves placeholders in the header that msgfmt refuses.
    header = pot.read_text().replace("charset=CHARSET", "charset=UTF-8")
    pot.write_text(header.replace("INTEGER; plural=EXPRESSION", "2; plural=(n != 1)"))
    # msgen fills every msgstr with its msgid, so msgfmt keeps every entry.
    filled = tmp / "employee-filled.po"
    _run("msgen", "-o", filled, pot)
    ids = set(_served(filled, tmp / "employee.mo"))
    assert len(ids) > 60, "xgettext found almost nothing in the templates"
    return {key[0] if isinstance(key, tuple) else key for key in ids}


TRANSLATED = sorted(code for code, _name in settings.LANGUAGES if code != "en")


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_employee_message_is_translated_in_each_language(
    language, employee_msgids, tmp_path
):
    """Translated, not fuzzy, and the committed .mo compiled from the .po."""
    po = ROOT / "locale" / language / "LC_MESSAGES" / "django.po"
    assert po.exists(), f"no catalogue for {language}: makemessages -l {language}"
    served = _served(po, tmp_path / "fresh.mo")
    keys = {key[0] if isinstance(key, tuple) else key for key in served}
    missing = employee_msgids - keys
    assert not missing, (
        f"Messages an employee reads with no {language} translation in {po} "
        "(or fuzzy):\n" + "\n".join(sorted(repr(m) for m in missing))
    )
    shipped = _read_mo(po.with_suffix(".mo"))
    assert shipped == served, f"{po.with_suffix('.mo')} is out of date: msgfmt it"


# ------------------------------------------------------------- the setting


def test_the_default_is_the_24_official_eu_languages():
    assert {code for code, _name in settings.LANGUAGES} == EU_LANGUAGE_CODES
    assert len(EU_LANGUAGE_CODES) == 24


def _settings_in_fresh_python(env: dict[str, str], tmp_path: Path):
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from django.conf import settings; "
            "print(','.join(c for c, _ in settings.LANGUAGES))",
        ],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "VAR_DIR": str(tmp_path),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_organisation_narrows_the_list(tmp_path):
    done = _settings_in_fresh_python({"LANGUAGES": "fr, en,de"}, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "fr,en,de"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"LANGUAGES": "fr,en,xx"}, "xx"),
        ({"LANGUAGES": "fr,en", "LANGUAGE_CODE": "de"}, "LANGUAGE_CODE"),
    ],
)
def test_a_wrong_language_stops_the_start_naming_it(env, named, tmp_path):
    done = _settings_in_fresh_python(env, tmp_path)
    assert done.returncode != 0
    last_line = done.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last_line and named in last_line


@pytest.mark.parametrize("language", sorted(EU_LANGUAGE_CODES))
def test_django_knows_each_language_and_writes_its_dates(language):
    """get_language_info and date formats work for all 24 (Django lacks
    Maltese); every date-and-time is on a 24-hour clock."""
    info = translation.get_language_info(language)
    assert info["code"] == language and info["name_local"]
    evening = datetime(2025, 11, 2, 23, 59)
    with translation.override(language):
        assert "23" in formats.date_format(evening, "DATETIME_FORMAT")
        assert "2025" in formats.date_format(evening, "DATE_FORMAT")
    for text in (long_date(evening, language), date_and_time(evening, language)):
        assert "2025" in text and "11" not in text  # the month in words
    assert "23" in date_and_time(evening, language)


# ---------------------------------------------------------------- the dates


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "2 November 2025, 23:59 (Paris time)"),
        ("fr", "2 novembre 2025 à 23\u00a0h\u00a059 (heure de Paris)"),
        ("de", "2. November 2025, 23:59 Uhr (Ortszeit Paris)"),
        ("pl", "2 listopada 2025, godz. 23:59 (Paryż, czas lokalny)"),
    ],
)
def test_a_deadline_at_midnight_shows_the_last_minute_of_the_day_before(
    language, expected
):
    """3 November 00:00 is shown as 2 November, 23:59: the day written is the
    last day on which one can act (README, Languages)."""
    midnight = datetime(2025, 11, 3, 0, 0, tzinfo=PARIS)
    assert content.deadline_display(midnight, tz=PARIS, language=language) == (expected)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "14 December 2026, 18:05"),
        ("fr", "14 décembre 2026, 18:05"),
        ("de", "14. Dezember 2026, 18:05"),
        ("pl", "14 grudnia 2026 18:05"),
        ("cs", "14. prosince 2026 18:05"),
        ("fi", "14. joulukuuta 2026 18.05"),
        ("hu", "2026. december 14. 18:05"),
        ("mt", "14 ta\u2019 Diċembru 2026 18:05"),
    ],
)
def test_dates_follow_each_language(language, expected):
    """Month names in the right case, the language's order, 24-hour clock."""
    moment = datetime(2026, 12, 14, 18, 5, tzinfo=PARIS)
    assert date_and_time(moment, language) == expected


def test_only_midnight_moves():
    almost = datetime(2025, 11, 3, 0, 1, tzinfo=PARIS)
    assert deadline_moment(almost) == almost
    assert deadline_moment(datetime(2025, 11, 3, tzinfo=PARIS)).day == 2


# ------------------------------------------------------------ the admin


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", "en"),  # the first the admin speaks
        ("pl", settings.LANGUAGE_CODE),  # none: the default language
        ("fr-BE", "fr"),
    ],
)
@pytest.mark.django_db
def test_the_admin_speaks_only_the_languages_its_strings_are_written_in(
    client, accept, expected
):
    """Django's admin is translated into German, this project's admin
    strings are not: a German browser gets one whole language, not two."""
    page = client.get("/admin/login/", headers={"accept-language": accept})
    assert page.status_code == 200
    assert f'<html lang="{expected}"' in page.content.decode()
    assert page["Content-Language"] == expected


@pytest.mark.django_db
def test_the_public_pages_speak_the_browsers_language(client):
    page = client.get("/verify/", headers={"accept-language": "pl,en;q=0.5"})
    assert '<html lang="pl">' in page.content.decode()
    with translation.override("pl"):
        assert translation.gettext("Is this message genuine?") in page.content.decode()


@pytest.mark.parametrize(
    ("language", "days", "said"),
    [
        ("pl", 1, "(pozostał 1 dzień)"),
        ("pl", 3, "(pozostały 3 dni)"),
        ("pl", 5, "(pozostało 5 dni)"),
        ("pl", 22, "(pozostały 22 dni)"),
        ("cs", 4, "(zbývají 4 dny)"),
        ("cs", 5, "(zbývá 5 dní)"),
        ("sl", 2, "(še 2 dneva)"),
        ("lt", 21, "(liko 21 diena)"),
        ("ro", 20, "(mai sunt 20 de zile)"),
        ("mt", 12, "(fadal 12-il jum)"),
    ],
)
def test_days_left_agree_with_the_number_in_each_language(language, days, said):
    """The page's "(N days left)" in each language's plural forms."""
    singular = "Deadline: %(deadline)s (1 day left)."
    plural = "Deadline: %(deadline)s (%(days)s days left)."
    with translation.override(language):
        text = translation.ngettext(singular, plural, days)
    assert said in text % {"deadline": "", "days": days}
