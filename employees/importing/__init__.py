"""Import of the staff list from CSV or XLSX files.

One code path serves the admin (preview, then confirm) and the
``import_employees`` command: ``analyse_file`` reads and validates everything
and plans the changes; ``apply_plan`` writes the plan in one transaction.

Why our own reader and writer instead of django-import-export: its bulk mode
loads about 5,700 rows/s on this kind of machine. The work here is plain
``csv``/``openpyxl`` reading and one pass of validation in Python; on
PostgreSQL the rows are decided as they stream by and written with COPY and
set-based statements (``streaming``, ``writing``, ``staged``), on SQLite with batched
``executemany`` (``applying`` says why). bench/bench_import.py measures
both against a plain Django script; the README's performance section has
the figures (no figure is written here: they age, the benchmark does not).

The package, one stage of the work a module, in order:

- ``vocabulary``: header aliases, language names, field labels and lengths;
- ``errors``: ``ImportFileError``, a file that cannot be used at all;
- ``limits``: what a file may expand to (``IMPORT_MAX_*``), checked on the
  zip's directory and while streaming, before anything is parsed;
- ``reading``: CSV and XLSX into rows of text cells;
- ``validating``: rows checked and normalised (``Row``, ``Issue``);
- ``snapshot``: the directory as it stands, loaded for comparison;
- ``matching``: who a row is (HR id, else address), for both planners;
- ``planning``: what to create, update and deactivate (``Plan``);
- ``streaming``: the same decisions on PostgreSQL, row by row, against a
  lean copy of the directory;
- ``writing``: PostgreSQL, when ``run_import`` writes: the new employees
  COPYed into their table by a worker thread while the file is still read,
  in the import's transaction;
- ``staged``: PostgreSQL's writing of the rest (and of everything for a
  plan analysed first and written later): the rows spilled to a temporary
  file, COPYed and written set-based;
- ``applying``: the plan written with bulk SQL in one transaction;
- ``running``: ``run_import``, analyse then write, and its ``ImportResult``.

This ``__init__`` is the directory's import API: services, the command and
the tests import from ``employees.importing``, not from the modules.
"""

from employees.importing.applying import WRITE_BATCH, apply_plan
from employees.importing.errors import ImportFileError
from employees.importing.limits import Limits, current_limits, expanded_size
from employees.importing.planning import (
    PROGRESS_EVERY,
    Plan,
    ProgressCallback,
    analyse_file,
)
from employees.importing.reading import open_path, read_table
from employees.importing.running import ImportResult, run_import
from employees.importing.validating import (
    MAX_STORED_ISSUES,
    Issue,
    Row,
    address_normalise,
)
from employees.importing.vocabulary import (
    FIELD_LABELS,
    HEADER_ALIASES,
    LANGUAGE_NAMES,
    MAX_LENGTHS,
)

__all__ = [
    "FIELD_LABELS",
    "HEADER_ALIASES",
    "LANGUAGE_NAMES",
    "MAX_LENGTHS",
    "MAX_STORED_ISSUES",
    "PROGRESS_EVERY",
    "WRITE_BATCH",
    "ImportFileError",
    "ImportResult",
    "Issue",
    "Limits",
    "Plan",
    "ProgressCallback",
    "Row",
    "address_normalise",
    "analyse_file",
    "apply_plan",
    "current_limits",
    "expanded_size",
    "open_path",
    "read_table",
    "run_import",
]
