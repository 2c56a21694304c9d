"""The French catalogue: complete, compiled, and what French users see.

The catalogue checks use the GNU gettext tools (xgettext for makemessages,
msgen and msgfmt to read catalogues): locally a machine without them skips
with the reason; in CI (CI=true) they are installed and the tests must run.
"""

from __future__ import annotations

import csv
import gettext
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import translation

from employees.importing import analyse_file
from tests.factories import EmployeeFactory
from tests.services import require

ROOT = Path(settings.BASE_DIR)
CATALOGUE = ROOT / "locale" / "fr" / "LC_MESSAGES" / "django"
# Not source: the virtualenv, runtime data, tests, benchmarks, caches, VCS.
NOT_SOURCE = {
    ".venv", "var", "tests", "bench", "locale", "artifacts", "node_modules",
    ".git", ".hypothesis", ".pytest_cache", ".ruff_cache", ".mypy_cache",
}  # fmt: skip
MAKEMESSAGES_IGNORES = ["--ignore=.venv", "--ignore=var", "--ignore=bench"]


def _require_gettext_tools() -> None:
    missing = [t for t in ("xgettext", "msgen", "msgfmt") if not shutil.which(t)]
    require(
        not missing,
        f"GNU gettext tools missing ({', '.join(missing)}): apt-get install gettext",
    )


def _run(*args: str | Path, cwd: Path | None = None) -> None:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{args[0]} failed:\n{done.stdout}{done.stderr}"


def _compiled(po: Path, mo: Path) -> dict:
    """What gettext serves from ``po``: translated, non-fuzzy entries only."""
    _run("msgfmt", "--check-format", "-o", mo, po)
    return _read_mo(mo)


def _read_mo(mo: Path) -> dict:
    with mo.open("rb") as f:
        catalog = dict(gettext.GNUTranslations(f)._catalog)
    catalog.pop("", None)  # the header
    return catalog


def _msgids(po: Path, tmp: Path) -> set:
    """Every message of ``po``, translated or not (msgen copies msgid to msgstr)."""
    filled = tmp / f"{po.stem}-all.po"
    _run("msgen", "-o", filled, po)
    return set(_compiled(filled, tmp / f"{po.stem}-all.mo"))


def _copy_sources(destination: Path) -> None:
    for entry in ROOT.iterdir():
        if entry.name in NOT_SOURCE:
            continue
        if entry.is_dir():
            shutil.copytree(
                entry, destination / entry.name, ignore=shutil.ignore_patterns(
                    "__pycache__", "*.pyc"
                )
            )  # fmt: skip
        else:
            shutil.copy2(entry, destination / entry.name)


def _show(ids: set) -> str:
    return "\n".join(sorted(repr(i) for i in ids))


# ------------------------------------------------------------ the catalogue


def test_it_translates_every_message_the_code_marks(tmp_path):
    _require_gettext_tools()
    project = tmp_path / "project"
    project.mkdir()
    _copy_sources(project)
    _run(
        sys.executable, "manage.py", "makemessages", "-l", "fr", "--no-obsolete",
        *MAKEMESSAGES_IGNORES, cwd=project,
    )  # fmt: skip
    fresh = project / "locale" / "fr" / "LC_MESSAGES" / "django.po"
    marked = _msgids(fresh, tmp_path)
    assert len(marked) > 100, "makemessages found almost nothing: wrong copy?"
    translated = _compiled(CATALOGUE.with_suffix(".po"), tmp_path / "committed.mo")
    untranslated = marked - set(translated)
    assert not untranslated, (
        "Messages marked in the code with no French translation in "
        "locale/fr/LC_MESSAGES/django.po (run makemessages -l fr, translate, "
        f"compilemessages):\n{_show(untranslated)}"
    )


def test_it_has_no_fuzzy_or_empty_entry(tmp_path):
    _require_gettext_tools()
    po = CATALOGUE.with_suffix(".po")
    served = set(_compiled(po, tmp_path / "committed.mo"))
    not_served = _msgids(po, tmp_path) - served
    assert not not_served, f"Fuzzy or empty in the catalogue:\n{_show(not_served)}"


def test_it_ships_a_mo_compiled_from_the_po(tmp_path):
    _require_gettext_tools()
    expected = _compiled(CATALOGUE.with_suffix(".po"), tmp_path / "fresh.mo")
    shipped = _read_mo(CATALOGUE.with_suffix(".mo"))
    stale = {
        k for k in expected.keys() | shipped.keys() if expected.get(k) != shipped.get(k)
    }
    assert not stale, (
        "locale/fr/LC_MESSAGES/django.mo is out of date (run compilemessages -l fr):"
        f"\n{_show(stale)}"
    )


def test_it_uses_french_plural_rules():
    """French puts 0 with 1 in the singular (nplurals=2; plural=(n > 1))."""
    singular, plural = (
        "%(count)d employee deactivated.",
        "%(count)d employees deactivated.",
    )
    with translation.override("fr"):
        said = {
            n: translation.ngettext(singular, plural, n) % {"count": n}
            for n in (0, 1, 2)
        }
    assert said == {
        0: "0 salarié désactivé.",
        1: "1 salarié désactivé.",
        2: "2 salariés désactivés.",
    }


# ------------------------------------------------------------- what users see


@pytest.fixture
def dpo(db) -> User:
    return User.objects.create_superuser("dpo", "dpo@example.com", "pw")


def _admin_index(dpo: User, language: str) -> str:
    client = Client(headers={"accept-language": language})
    assert client.login(username="dpo", password="pw")
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return response.content.decode()


def test_it_shows_the_admin_in_french_to_a_french_speaking_user(dpo):
    page = _admin_index(dpo, "fr-FR,fr;q=0.9,en;q=0.5")
    assert '<html lang="fr"' in page
    for label in ("Annuaire du personnel", "Salariés", "Campagnes", "Déconnexion"):
        assert label in page
    assert "Staff directory" not in page


def test_it_shows_the_admin_in_english_to_an_english_speaking_user(dpo):
    page = _admin_index(dpo, "en-GB,en;q=0.9")
    assert '<html lang="en"' in page
    for label in ("Staff directory", "Employees", "Campaigns", "Log out"):
        assert label in page
    assert "Annuaire du personnel" not in page


def test_it_reimports_a_directory_exported_in_french(dpo):
    """The French column names of the export are ones the importer knows."""
    boss = EmployeeFactory(email="boss@example.com", hr_id="B1")
    EmployeeFactory(email="zoe@example.com", hr_id="Z1", first_name="Zoé", manager=boss)
    client = Client(headers={"accept-language": "fr"})
    client.force_login(dpo)
    response = client.get(reverse("admin:employees_employee_export", args=["csv"]))
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    header = next(csv.reader(io.StringIO(text), delimiter=";"))
    assert header[:3] == ["adresse e-mail", "prénom", "nom"]

    plan = analyse_file(io.BytesIO(text.encode("utf-8")))

    assert plan.errors == []
    assert set(plan.columns) == {
        "email", "first_name", "last_name", "department", "country", "language",
        "manager", "hr_id",
    }  # fmt: skip
    assert plan.creates == [] and plan.updates == []


# ------------------------------------------------------- the staff commands

# Run in a fresh Python per language: a command's help is read when its
# module is imported, in the language of LANGUAGE_CODE, as for a person
# typing ``python manage.py import_employees --help``.
_HELP_TEXTS = """
import json
import django
from django.core.management import get_commands, load_command_class
from django.core.management.base import BaseCommand

django.setup()
ours = {
    name: app for name, app in get_commands().items()
    if not app.startswith("django.") and app.split(".")[0] in {%(apps)s}
}
plain = {a.dest for a in BaseCommand().create_parser("manage.py", "x")._actions}
texts = {}
for name, app in sorted(ours.items()):
    parser = load_command_class(app, name).create_parser("manage.py", name)
    texts[name] = [parser.description] + [
        f"{a.dest}: {a.help}" for a in parser._actions if a.dest not in plain
    ]
print(json.dumps(texts))
"""
PROJECT_APPS = ("api", "audit", "console", "directory", "employees", "notifications")


def _fresh_python(args: list[str], language: str, tmp_path: Path) -> str:
    """What ``python ARGS`` prints under LANGUAGE_CODE=``language``."""
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "VAR_DIR": str(tmp_path),
            "LANGUAGE_CODE": language,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _command_help(language: str, tmp_path: Path) -> dict[str, list[str]]:
    script = _HELP_TEXTS % {"apps": ", ".join(repr(a) for a in PROJECT_APPS)}
    return json.loads(_fresh_python(["-c", script], language, tmp_path))


def test_every_staff_command_explains_itself_in_french_and_english(tmp_path):
    english, french = _command_help("en", tmp_path), _command_help("fr", tmp_path)
    assert english.keys() == french.keys()
    assert {"import_employees", "create_campaign", "api_key"} <= english.keys()
    same = [
        f"{name}: {text}"
        for name, texts in english.items()
        for text, translated in zip(texts, french[name], strict=True)
        if text == translated or text.endswith(": None")
    ]
    assert not same, "Help missing, or in English to a French reader:\n" + "\n".join(
        same
    )


def test_the_import_command_answers_help_in_the_configured_language(tmp_path):
    command = ["manage.py", "import_employees", "--help"]
    french = " ".join(_fresh_python(command, "fr", tmp_path).split())
    assert "Importe la liste du personnel depuis un fichier CSV ou XLSX." in french
    assert "ne rien écrire ; indiquer ce qui se passerait" in french
    english = " ".join(_fresh_python(command, "en", tmp_path).split())
    assert "Import the staff list from a CSV or XLSX file." in english
