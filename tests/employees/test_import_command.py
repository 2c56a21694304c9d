"""python manage.py import_employees: the contract scripts rely on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import call_command

from employees.models import Employee, ImportRun

pytestmark = pytest.mark.django_db


def _run(*args: str) -> tuple[int, str, str]:
    from io import StringIO

    out, err = StringIO(), StringIO()
    try:
        call_command("import_employees", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def staff_file(tmp_path: Path):
    def write(text: str, name: str = "staff.csv", encoding: str = "utf-8") -> str:
        path = tmp_path / name
        path.write_bytes(text.encode(encoding))
        return str(path)

    return write


def test_it_imports_and_exits_0(staff_file):
    code, out, _ = _run(staff_file("email,prénom\nann@example.com,Ann\n"))
    assert code == 0
    assert "Created 1" in out
    assert Employee.objects.get().first_name == "Ann"


def test_it_prints_one_json_object(staff_file):
    path = staff_file("email,colour\nann@example.com,red\nbad,blue\n")
    code, out, _ = _run(path, "--json", "--skip-invalid")
    payload = json.loads(out)
    assert code == 1
    assert {
        k: payload[k] for k in ("created", "updated", "unchanged", "deactivated")
    } == {
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "deactivated": 0,
    }
    assert payload["errors"] == [
        {"line": 3, "column": "email", "message": "“bad” is not a valid email address."}
    ]
    assert payload["warnings"][0]["column"] == "colour"


def test_it_stops_on_row_errors_with_nothing_written_and_exit_1(staff_file):
    code, _, err = _run(staff_file("email\nann@example.com\nbad\n"))
    assert code == 1
    assert "line 3" in err
    assert Employee.objects.count() == 0


def test_it_writes_nothing_on_dry_run_and_exits_0_when_importable(staff_file):
    code, out, _ = _run(staff_file("email\nann@example.com\n"), "--dry-run")
    assert code == 0
    assert "Would create 1" in out
    assert Employee.objects.count() == 0


def test_it_deactivates_the_absent_with_sync(staff_file):
    Employee.objects.create(email="gone@example.com")
    path = staff_file("email\nann@example.com\n")
    code, out, _ = _run(path, "--sync", "--confirm-deactivate", "1", "--json")
    assert (code, json.loads(out)["deactivated"]) == (0, 1)
    assert not Employee.objects.get(email="gone@example.com").is_active


@pytest.mark.parametrize(
    ("content", "name"),
    [(b"%PDF-1.4 not a list", "list.csv"), (b"PK\x03\x04broken", "list.xlsx")],
)
def test_it_exits_2_with_a_clear_message_when_the_file_is_unreadable(
    tmp_path, content, name
):
    path = tmp_path / name
    path.write_bytes(content)
    code, out, err = _run(str(path))
    assert code == 2
    assert err.startswith("Cannot import:")
    assert "Traceback" not in out + err


def test_it_exits_2_for_a_missing_file(tmp_path):
    code, _, err = _run(str(tmp_path / "nope.csv"))
    assert code == 2
    assert "nope.csv" in err


def test_it_reports_unreadable_files_as_json_too(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"name\nAnn\n")
    code, out, _ = _run(str(path), "--json")
    payload = json.loads(out)
    assert (code, sorted(payload), payload["line"]) == (2, ["error", "line"], 1)
    assert "email" in payload["error"]


def test_it_records_every_run(staff_file):
    _run(staff_file("email\nann@example.com\n", name="rh-export.csv"), "--dry-run")
    _run(staff_file("email\nann@example.com\n", name="rh-export.csv"))
    _run(staff_file("nothing useful\n", name="broken.csv"))
    runs = list(ImportRun.objects.order_by("id"))
    assert [(r.file_name, r.status, r.source) for r in runs] == [
        ("rh-export.csv", ImportRun.Status.DRY_RUN, "shell"),
        ("rh-export.csv", ImportRun.Status.DONE, "shell"),
        ("broken.csv", ImportRun.Status.REJECTED, "shell"),
    ]
    assert runs[1].created == 1
    assert len(runs[0].file_sha256) == 64
    assert "email" in runs[2].message
    assert not runs[1].file  # no copy of the staff list is kept


def test_it_speaks_the_installation_language_in_whole_sentences(staff_file, tmp_path):
    """LANGUAGE_CODE fr (the shipped default): the reasons were French
    already, the words around them must be too."""
    from django.utils import translation

    unreadable = tmp_path / "list.csv"
    unreadable.write_bytes(b"%PDF-1.4 not a list")
    with translation.override("fr"):
        code, _, err = _run(str(unreadable))
        assert code == 2
        assert err.startswith("Import impossible : ")
        code, out, err = _run(staff_file("email\nann@example.com\nbad\n"), "--dry-run")
    assert code == 1
    assert "ligne 3, colonne email : " in err
    assert "À créer : 1, à mettre à jour : 0" in out
    assert out.rstrip().endswith("Lignes invalides : 1 sur 2.")
