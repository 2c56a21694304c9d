"""The Celery wiring, proved with a real worker process on each broker we support."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from celery.exceptions import TimeoutError as CeleryTimeoutError

from config.celery import ping
from tests.services import REDIS_URL
from tests.workers import (
    ROOT,
    Worker,
    app_broker,
    celery_worker,
    client_app,
    filesystem_broker,
    route_tasks_to,
)

pytestmark = pytest.mark.worker


def _round_trip(worker: Worker) -> tuple[str, str]:
    value = f"pong-{uuid.uuid4().hex[:8]}"
    result = client_app(worker).send_task(
        "config.ping", args=[value], queue=worker.queue
    )
    try:
        return value, result.get(timeout=15)
    except CeleryTimeoutError:
        pytest.fail(f"no result from the worker in 15 s; its log:\n{worker.log}")


@pytest.mark.redis
def test_it_runs_a_task_on_a_real_worker_through_redis():
    with celery_worker(broker_url=REDIS_URL) as worker:
        sent, received = _round_trip(worker)
        assert "redis://" in worker.log
    assert received == sent


def test_it_runs_a_task_on_a_real_worker_through_the_embedded_broker(tmp_path):
    with celery_worker(**filesystem_broker(tmp_path)) as worker:
        sent, received = _round_trip(worker)
        assert "filesystem://" in worker.log
    assert received == sent
    # The message went through the on-disk folders of config/settings.py.
    assert (tmp_path / "broker" / "queue").is_dir()
    assert any((tmp_path / "celery-results").iterdir())


def test_it_lets_the_projects_own_delay_reach_a_worker():
    """`task.delay()` in the test process uses the app's configured broker."""
    with celery_worker(**app_broker()) as worker, route_tasks_to(worker):
        value = f"pong-{uuid.uuid4().hex[:8]}"
        assert ping.delay(value).get(timeout=15) == value


def test_it_uses_the_embedded_broker_when_nothing_is_configured(tmp_path):
    show = (
        "from config.celery import app; c = app.conf; "
        "print(c.broker_url, c.result_backend, "
        "c.broker_transport_options['data_folder_in'])"
    )
    env = {"PATH": "/usr/bin:/bin", "VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", show],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    broker, backend, queue_folder = result.stdout.split()
    assert broker == filesystem_broker(tmp_path)["broker_url"]
    assert backend == filesystem_broker(tmp_path)["result_backend"]
    assert queue_folder == str(tmp_path / "broker" / "queue")
