"""Behind a pooler in transaction mode (PgBouncer) the two per-connection
features are switched off by their settings, as the README's deployment
section says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _database(**env: str) -> dict:
    show = (
        "import json; from django.conf import settings; d = settings.DATABASES"
        "['default']; print(json.dumps([d['OPTIONS'].get('prepare_threshold'), "
        "d.get('DISABLE_SERVER_SIDE_CURSORS', False)]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {show}"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": "postgres://u@db.invalid:5432/notify",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_direct_connection_prepares_and_uses_server_side_cursors():
    assert _database() == [5, False]


def test_behind_a_transaction_pooler_both_are_switched_off():
    assert _database(
        DATABASE_PREPARED_STATEMENTS="false", DATABASE_SERVER_SIDE_CURSORS="false"
    ) == [None, True]
