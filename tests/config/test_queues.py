"""Sending never waits behind long work: the queues the README's deployment
section lists are the ones Celery routes each task to, and the Procfiles
run a worker for each."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

from config.celery import BULK_QUEUE, app

ROOT = Path(__file__).resolve().parents[2]
_ROW = re.compile(r"^\| `([\w-]+)`[^|]*\| ([^|]+) \| `(\w+)` \|$")


def _readme_queues() -> dict[str, tuple[set[str], str]]:
    """{queue: (tasks, Procfile process)} from the README's queue table."""
    rows = {}
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line.strip())
        if match and "." in match.group(2):
            queue, tasks, process = match.groups()
            rows[queue] = (set(re.findall(r"`([\w.]+)`", tasks)), process)
    return rows


def _queue_of(task: str) -> str:
    route = app.amqp.router.route({}, task)
    return route["queue"].name


def _procfile(name: str) -> dict[str, str]:
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def test_every_task_goes_to_the_queue_the_readme_says():
    queues = _readme_queues()
    assert set(queues) == {settings.CELERY_TASK_DEFAULT_QUEUE, BULK_QUEUE}
    app.loader.import_default_modules()
    ours = {name for name in app.tasks if not name.startswith("celery.")}
    listed = set().union(*(tasks for tasks, _process in queues.values()))
    assert ours == listed, "README's queue table and the registered tasks differ"
    for queue, (tasks, _process) in queues.items():
        assert {task: _queue_of(task) for task in tasks} == dict.fromkeys(tasks, queue)


def test_sending_and_imports_never_share_a_queue():
    assert _queue_of("notifications.send_chunk") != _queue_of("employees.commit_import")


def test_the_procfile_runs_a_worker_for_each_queue_and_the_demo_serves_both():
    queues = _readme_queues()
    procfile = _procfile("Procfile")
    for queue, (_tasks, process) in queues.items():
        command = procfile[process]
        served = re.search(r"-Q (\S+)", command).group(1)
        assert queue in served or (
            queue == settings.CELERY_TASK_DEFAULT_QUEUE
            and "${CELERY_TASK_DEFAULT_QUEUE:-celery}" in served
        ), command
        assert "-n " in command, "each worker needs its own name on a shared host"
    demo = re.search(r"-Q (\S+)", _procfile("Procfile.dev")["worker"]).group(1)
    assert BULK_QUEUE in demo.split(",")
    assert "${CELERY_TASK_DEFAULT_QUEUE:-celery}" in demo.split(",")
