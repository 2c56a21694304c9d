"""Staff import benchmark: 100,000 rows, first import then a re-import with
10% of the rows changed, through the same code path as the admin and the
``import_employees`` command (employees.services / employees.importing).

    .venv/bin/python bench/bench_import.py [--rows N] [--database-url URL]

Prints rows/s for each phase (wall clock, and per CPU-second of this process,
which other load on the machine disturbs less) and the peak memory. Runs against a
fresh SQLite file in a temporary folder unless --database-url is given.
Target on the 2-core reference machine (SQLite): 30,000 rows/s for both.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEPARTMENTS = [
    "Finance",
    "RH",
    "IT",
    "Ventes",
    "Juridique",
    "Logistique",
    "Marketing",
    "R&D",
]
COUNTRIES = [
    "France",
    "Belgique",
    "Canada",
    "United Kingdom",
    "Ireland",
    "Lyon",
    "Paris",
]
LANGUAGES = ["fr", "Français", "en", "English", "fr-FR", "en_GB"]
FIRST = [
    "Hélène",
    "Øyvind",
    "Jürgen",
    "Đặng",
    "Chloé",
    "Amélie",
    "John",
    "Mary",
    "Zoë",
    "Łukasz",
]
LAST = [
    "Müller",
    "Dupont",
    "Lefèvre",
    "O'Brien",
    "Nguyễn",
    "García",
    "Smith",
    "Kowalski",
]
HEADER = [
    "Matricule",
    "Prénom",
    "Nom",
    "Courriel",
    "Service",
    "Pays",
    "Langue",
    "Responsable",
]


def _rows(count: int, rng: random.Random) -> list[list[str]]:
    rows = []
    for i in range(count):
        manager = f"person{i // 10 * 10}@example.com" if i % 10 else ""
        rows.append(
            [
                f"{i:06d}",
                rng.choice(FIRST),
                rng.choice(LAST),
                f"person{i}@example.com",
                rng.choice(DEPARTMENTS),
                rng.choice(COUNTRIES),
                rng.choice(LANGUAGES),
                manager,
            ]
        )
    return rows


def _write(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(HEADER)
        writer.writerows(rows)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _phase(label: str, path: Path, rows: int) -> None:
    from employees import services

    with path.open("rb") as binary:
        started, cpu_started = time.perf_counter(), time.process_time()
        _run, result, error = services.import_from_shell(
            binary=binary,
            file_name=path.name,
            sync=False,
            skip_invalid=False,
            dry_run=False,
        )
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    assert error is None and result is not None and result.written, (
        error,
        result and result.errors[:3],
    )
    print(
        f"{label:<22} {rows:>7} rows in {elapsed:5.2f} s = {rows / elapsed:>6.0f} rows/s "
        f"(CPU {cpu:5.2f} s = {rows / cpu:>6.0f} rows/CPU-s)  "
        f"(created {result.created}, updated {result.updated}, unchanged {result.unchanged})  "
        f"peak RSS {_peak_mb():.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-import-"))
    os.environ["DATABASE_URL"] = (
        args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["VAR_DIR"] = str(tmp)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    if args.database_url:
        from employees.models import Employee

        Employee.objects.all().delete()
    rng = random.Random(42)
    rows = _rows(args.rows, rng)
    first = tmp / "staff.csv"
    _write(first, rows)
    print(
        f"database: {connection.vendor}; file: {first.stat().st_size / 1e6:.1f} MB; baseline RSS {_peak_mb():.0f} MB"
    )
    _phase("first import", first, args.rows)
    for row in rng.sample(rows, args.rows // 10):
        row[4] = rng.choice([d for d in DEPARTMENTS if d != row[4]])
    second = tmp / "staff-10pct-changed.csv"
    _write(second, rows)
    _phase("re-import, 10% changed", second, args.rows)
    _phase("re-import, unchanged", second, args.rows)


if __name__ == "__main__":
    main()
