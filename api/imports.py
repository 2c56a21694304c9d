"""POST /api/v1/imports/: the staff file import, as the command runs it.

Counts are named as ``import_employees --json`` names them and errors are
the admin preview's ``{line, column, message}``: the same
``employees.importing`` code computes them.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError

from api.problems import CONTENT_TYPE
from employees.services import import_from_shell


def import_answer(*, upload, dry_run: bool, sync: bool, actor: str) -> tuple[dict, int]:  # type: ignore[no-untyped-def]
    run, result, error = import_from_shell(
        binary=upload.file if hasattr(upload, "file") else upload,
        file_name=upload.name or "upload",
        sync=sync,
        skip_invalid=False,
        dry_run=dry_run,
        api_actor=actor,
    )
    if error is not None:
        raise ValidationError({"file": str(error)})
    assert result is not None
    run.refresh_from_db()
    body = {"id": run.pk, "status": run.status, **result.as_dict()}
    if dry_run:
        return body, 200
    if result.written:
        return body, 201
    # Refused for its row errors: nothing written, every error listed. In a
    # problem+json body "status" is the HTTP code (it was the run's "rejected",
    # which clients reading RFC 9457 took for a malformed answer): the run's
    # own status is "import_status" here.
    return {
        **body,
        "type": "about:blank",
        "title": _("The file has errors; nothing was imported."),
        "status": 400,
        "import_status": run.status,
    }, 400


__all__ = ["CONTENT_TYPE", "import_answer"]
