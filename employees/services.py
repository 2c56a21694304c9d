"""Functions that write the staff directory (HackSoft style: views, admin,
commands and tasks call these and hold no rules of their own)."""

from __future__ import annotations

# API (implemented in the next commit; the admin and the command call these):
#
# import_run_create(*, file, file_name, user=None, source, sync, skip_invalid,
#                   dry_run=False) -> ImportRun
#     Stores the uploaded/opened file on the run (status PENDING).
#
# import_run_analyse(*, run_id) -> ImportRun
#     Dry run of the stored file: fills counts, errors and warnings, status
#     PREVIEW (or REJECTED when the file cannot be read). Writes no employee.
#     Updates run.rows_done / rows_total as it goes (progress bar).
#
# import_run_commit(*, run_id) -> ImportRun
#     The real import of the stored file in one transaction; status DONE,
#     REJECTED (row errors without skip_invalid: nothing written) or FAILED.
#     Only from PREVIEW or PENDING (conditional UPDATE, so a double click or a
#     duplicated task imports once).
