"""Staff files that attack the importer: a generated corpus (tests/employees/
corpus.py) of broken, renamed, mis-encoded and hostile files through the
``import_employees`` command and the admin upload. For each: no traceback, a
documented exit status, nothing written when refused, and, for the bombs at
real size, bounded memory (the command in a subprocess, its peak RSS read
with ``os.wait4``)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from employees import services
from employees.models import Employee, ImportRun
from tests.employees import corpus

pytestmark = pytest.mark.django_db

Status = ImportRun.Status
ROOT = Path(django_settings.BASE_DIR)
# Scaled down so that small bombs go past them; the real-size bombs below
# meet the defaults.
LIMITS = {
    "IMPORT_MAX_UNCOMPRESSED_BYTES": 16_000_000,
    "IMPORT_MAX_ROWS": 4_000,
    "IMPORT_MAX_COLUMNS": 50,
    "IMPORT_MAX_CELL_CHARS": 1_000,
}
MAX_RSS_MB = 512


@pytest.fixture(scope="module")
def files() -> list[tuple[str, str, bytes]]:
    return list(corpus.corpus())


@pytest.fixture
def limited(settings, tmp_path):
    for name, value in LIMITS.items():
        setattr(settings, name, value)
    settings.IMPORT_SYNC_MAX_BYTES = 10**9  # analysed in the request, here
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings


def _command(path: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_employees", str(path), "--json", stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return code, out.getvalue(), err.getvalue()


def test_the_corpus_is_big_and_varied(files):
    names = [name for name, _file_name, _content in files]
    assert len(names) >= 200
    assert len(set(names)) == len(names)
    for kind in ("flip", "truncated", "csv in", "NUL after 64 KB", "renamed",
                 "bomb", "billion laughs", "1,200 columns", "10 MB line"):  # fmt: skip
        assert any(kind in name for name in names), kind


def test_no_file_of_the_corpus_breaks_the_command(files, limited, tmp_path):
    problems = []
    for name, file_name, content in files:
        path = tmp_path / file_name
        path.write_bytes(content)
        before = Employee.objects.count()
        code, out, err = _command(path)
        payload = json.loads(out)  # always one JSON object
        run = ImportRun.objects.order_by("-pk").first()
        if code not in (0, 1, 2) or "Traceback" in out + err:
            problems.append(f"{name}: exit {code} {out[:200]} {err[:300]}")
        elif code == 2 and ("error" not in payload or run.status != Status.REJECTED):
            problems.append(f"{name}: refused without a message: {payload}")
        elif code != 0 and Employee.objects.count() != before:
            problems.append(f"{name}: exit {code} but rows were written")
        elif run.status in (Status.IMPORTING, Status.FAILED):
            problems.append(f"{name}: run left {run.status}")
        Employee.objects.all().delete()
    assert not problems, "\n".join(problems)


def test_no_file_of_the_corpus_breaks_the_admin_upload(files, limited, hr_admin):
    client = Client(headers={"accept-language": "en"})
    client.force_login(hr_admin)
    problems = []
    for name, file_name, content in files:
        upload = SimpleUploadedFile(file_name, content)
        runs = ImportRun.objects.count()
        response = client.post(
            reverse("admin:employees_importrun_upload"), {"file": upload}
        )
        if response.status_code == 200:  # the form refused it (an empty file)
            if not response.context["form"].errors or ImportRun.objects.count() != runs:
                problems.append(f"{name}: form answered 200 without an error")
            continue
        run = ImportRun.objects.order_by("-pk").first()
        if response.status_code != 302:
            problems.append(f"{name}: upload answered {response.status_code}")
            continue
        page = client.get(response["Location"])
        if page.status_code != 200 or run.status not in (
            Status.PREVIEW,
            Status.REJECTED,
        ):
            problems.append(f"{name}: page {page.status_code}, run {run.status}")
        elif run.status == Status.REJECTED and escape(run.message) not in (
            page.content.decode()
        ):
            problems.append(f"{name}: the refusal is not on the page")
        elif Employee.objects.exists():
            problems.append(f"{name}: the preview wrote rows")
    assert not problems, "\n".join(problems)


def test_it_refuses_a_bomb_with_the_limit_named(limited, tmp_path):
    path = tmp_path / "bomb.xlsx"
    corpus.long_string_bomb(path, 200_000)
    code, out, _err = _command(path)
    assert code == 2
    assert "IMPORT_MAX_CELL_CHARS" in json.loads(out)["error"]
    assert ImportRun.objects.get().status == Status.REJECTED


def test_it_decides_request_or_worker_by_the_uncompressed_size(limited):
    limited.IMPORT_SYNC_MAX_BYTES = 1_000_000
    zipped = io.BytesIO()
    corpus.many_rows_bomb(zipped, 20_000)  # 1.2 MB of XML, zipped to a few KB
    assert len(zipped.getvalue()) < 50_000
    assert not services.import_runs_in_request(file=zipped)
    small = io.BytesIO(corpus.xlsx_bytes([corpus.HEADER, *corpus.PEOPLE]))
    assert services.import_runs_in_request(file=small)


def test_it_keeps_working_on_a_file_under_the_limits(limited, tmp_path):
    path = tmp_path / "staff.xlsx"
    path.write_bytes(corpus.xlsx_bytes([corpus.HEADER, *corpus.PEOPLE]))
    code, out, _err = _command(path)
    assert (code, json.loads(out)["created"]) == (0, 4)


@pytest.mark.postgres
def test_a_nul_byte_after_64_kb_is_a_row_error_on_postgresql(tmp_path):
    padding = "".join(f"p{n}@example.com;P\r\n" for n in range(5000))
    path = tmp_path / "staff.csv"
    path.write_bytes(
        ("email;first name\r\n" + padding + "nul@example.com;N\x00ul\r\n").encode()
    )
    code, out, _err = _command(path)
    payload = json.loads(out)
    assert code == 1
    assert payload["errors"][0]["line"] == 5002
    assert payload["errors"][0]["column"] == "first name"
    assert not Employee.objects.exists()
    assert ImportRun.objects.get().status == Status.REJECTED


def test_a_failing_import_marks_its_run_failed_and_prints_json(tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("employees.importing.run_import", crash)
    path = tmp_path / "staff.csv"
    path.write_text("email\nann@example.com\n")
    code, out, _err = _command(path)
    assert code == 3
    assert "RuntimeError" in json.loads(out)["error"]
    assert ImportRun.objects.get().status == Status.FAILED


# -- real-size bombs through the default limits, memory measured ----------


@pytest.fixture(scope="module")
def child_env(tmp_path_factory) -> dict[str, str]:
    """A migrated SQLite database of the child's own: the bombs are refused
    before anything is written, whatever the database."""
    folder = tmp_path_factory.mktemp("child")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("IMPORT_", "DATABASE_URL", "PYTEST"))
    }
    env.update(
        DATABASE_URL=f"sqlite:///{folder / 'db.sqlite3'}",
        VAR_DIR=str(folder),
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    return env


# Runs the command and reports its peak RSS. A launcher of its own because
# Linux carries the peak RSS across fork and exec: measured straight from
# the test process, the command would inherit pytest's.
LAUNCHER = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:])
_pid, status, usage = os.wait4(child.pid, 0)
sys.stderr.write(f"\\nPEAK_RSS_KB {usage.ru_maxrss}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _peak(path: Path, env: dict[str, str]) -> tuple[int, dict, str, float]:
    """(exit status, JSON printed, stderr, peak RSS in MB) of the command."""
    command = [sys.executable, str(ROOT / "manage.py"), "import_employees"]
    launcher = [sys.executable, "-c", LAUNCHER, *command, str(path), "--json"]
    done = subprocess.run(launcher, env=env, cwd=ROOT, capture_output=True, timeout=300)
    err = done.stderr.decode()
    err, _marker, peak_kb = err.rpartition("PEAK_RSS_KB ")
    return done.returncode, json.loads(done.stdout), err, int(peak_kb) / 1024


BOMBS = {
    # the issue's 311 KB file with one 300 MB shared string
    "shared string, 300 MB": (corpus.long_string_bomb, 300_000_000),
    "inline string in the sheet, 300 MB": (corpus.inline_string_bomb, 300_000_000),
    "2,000,000 rows": (corpus.many_rows_bomb, 2_000_000),
    "one row of 20,000,000 cells": (corpus.wide_row_bomb, 20_000_000),
    "a sheet declared 4 GB": (corpus.declared_bomb, 4_000_000_000),
}


@pytest.mark.parametrize("bomb", BOMBS)
def test_a_real_size_bomb_is_refused_in_bounded_memory(bomb, child_env, tmp_path):
    builder, size = BOMBS[bomb]
    path = tmp_path / "bomb.xlsx"
    started = time.monotonic()
    builder(path, size)
    code, payload, err, peak_mb = _peak(path, child_env)
    print(f"{bomb}: {path.stat().st_size / 1e6:.1f} MB file, peak RSS {peak_mb:.0f} MB, "
          f"{time.monotonic() - started:.1f} s")  # fmt: skip
    assert (code, "Traceback" in err) == (2, False), (payload, err[-2000:])
    assert "IMPORT_MAX_" in payload["error"]
    assert peak_mb < MAX_RSS_MB


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_it_counts_rows_whatever_ends_the_lines(limited, tmp_path, newline):
    limited.IMPORT_MAX_ROWS = 10
    path = tmp_path / "staff.csv"
    people = [f"p{n}@example.com" for n in range(11)]
    path.write_bytes(newline.join(["email", *people, ""]).encode())
    code, out, _err = _command(path)
    assert code == 2
    assert "IMPORT_MAX_ROWS" in json.loads(out)["error"]
    assert not Employee.objects.exists()


def test_it_counts_every_issue_but_lists_the_first(tmp_path, monkeypatch):
    monkeypatch.setattr("employees.importing.validating.MAX_REPORTED_ISSUES", 5)
    path = tmp_path / "staff.csv"
    path.write_text("email,colour\n" + "a@example.com,red\n" * 12)
    code, out, _err = _command(path)
    payload = json.loads(out)
    assert code == 1
    assert (len(payload["errors"]), payload["error_count"], payload["rows"]) == (
        5,
        11,
        12,
    )
    run = ImportRun.objects.get()
    assert (run.error_count, run.status) == (11, Status.REJECTED)


def test_a_million_copies_of_one_row_are_refused_in_bounded_memory(child_env, tmp_path):
    path = tmp_path / "copies.csv"
    path.write_bytes(b"email\n" + b"a@example.com\n" * 1_000_000)
    code, payload, err, peak_mb = _peak(path, child_env)
    print(f"1,000,000 copies of one row: peak RSS {peak_mb:.0f} MB")
    assert (code, "Traceback" in err) == (1, False)
    assert (payload["error_count"], payload["written"]) == (999_999, False)
    assert peak_mb < MAX_RSS_MB


def test_the_admin_refuses_a_bomb_in_the_request(limited, hr_admin):
    limited.IMPORT_SYNC_MAX_BYTES = 0  # everything else would go to a worker
    bomb = io.BytesIO()
    corpus.long_string_bomb(bomb, 20_000_000)  # over the 16 MB limit
    client = Client(headers={"accept-language": "fr"})
    client.force_login(hr_admin)
    upload = SimpleUploadedFile("bomb.xlsx", bomb.getvalue())
    response = client.post(
        reverse("admin:employees_importrun_upload"), {"file": upload}
    )
    run = ImportRun.objects.get()
    assert run.status == Status.REJECTED
    assert "IMPORT_MAX_UNCOMPRESSED_BYTES" in run.message
    assert (
        "Le fichier est trop gros" in client.get(response["Location"]).content.decode()
    )
