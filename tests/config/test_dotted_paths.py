"""Dotted paths that deployments, settings and the scheduler name keep working.

A deployment copies the Procfile, puts EMAIL_BACKEND in its environment and
has Celery messages in flight under task names: moving code between modules
must not break any of them (ARCHITECTURE.md lists them)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib import admin
from django.utils.module_loading import import_string
from gunicorn.glogging import Logger

from config.celery import app
from console.sites import NotifyAdminSite

ROOT = Path(__file__).resolve().parents[2]

TASK_NAMES = {
    "config.ping",
    "notifications.dispatch",
    "notifications.send_chunk",
    "employees.analyse_import",
    "employees.commit_import",
    "employees.requeue_stalled_imports",
    "audit.purge_expired",
    "events.deliver",
    "events.sweep",
}


def _logger_classes() -> list[str]:
    found = []
    for name in ("Procfile", "Procfile.dev"):
        text = (ROOT / name).read_text()
        found += re.findall(r"--logger-class\s+(\S+)", text)
    return found


def test_it_keeps_the_procfile_logger_class():
    paths = _logger_classes()
    assert paths == ["notifications.logfilters.GunicornLogger"]
    assert issubclass(import_string(paths[0]), Logger)


def test_it_keeps_the_default_email_backend(tmp_path):
    # A fresh process with no environment: the test runner replaces
    # EMAIL_BACKEND in this one.
    script = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "from django.core.mail import get_connection\n"
        "print(settings.EMAIL_BACKEND, type(get_connection()).__module__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "VAR_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "notifications.outbox.EmailBackend",
        "notifications.delivery.outbox",
    ]


def test_it_names_importable_email_backends_in_env_example():
    text = (ROOT / ".env.example").read_text()
    backends = re.findall(r"EMAIL_BACKEND=(\S+)", text)
    assert "notifications.outbox.EmailBackend" in backends
    for path in backends:
        import_string(path)


def test_it_keeps_the_csrf_failure_view_and_log_filters():
    assert callable(import_string(settings.CSRF_FAILURE_VIEW))
    for spec in settings.LOGGING["filters"].values():
        assert callable(import_string(spec["()"]))
    assert import_string("notifications.logfilters.MaskTokens") is import_string(
        settings.LOGGING["filters"]["mask_tokens"]["()"]
    )


def test_it_registers_every_task_under_its_name():
    app.loader.import_default_modules()
    assert TASK_NAMES <= set(app.tasks)
    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert scheduled <= TASK_NAMES


@pytest.mark.django_db
def test_it_mounts_the_hardened_admin_site(client):
    assert isinstance(admin.site, NotifyAdminSite)
    response = client.get("/admin/login/")
    assert response.status_code == 200
