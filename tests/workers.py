"""Real Celery worker processes for tests.

`celery_worker()` starts `celery -A config worker` from the virtualenv as a
subprocess, waits until it is ready and stops it (its whole process group) on
exit. Every worker gets a unique hostname and, by default, its own queue, so
tests never steal each other's tasks on a shared Redis database or from a
`python3 dev.py demo` worker using the same broker folder.

    with celery_worker(broker_url=REDIS_URL) as worker:
        result = client_app(worker).send_task("config.ping", queue=worker.queue)
        assert result.get(timeout=10) == "pong"

To let the project's own code (`task.delay()`) reach the worker, start it on
the app's broker and route the default queue to it:

    with celery_worker(**app_broker()) as worker, route_tasks_to(worker):
        some_service_that_calls_delay()

A worker that touches the database must see the test database: pass
`env=worker_database_env()` and use the `transactional_db` fixture (a worker
never sees the uncommitted transaction of a plain `django_db` test).

Crash tests can use `worker.kill()` (SIGKILL to the whole process group) or the
`worker.process` Popen directly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from celery import Celery
from django.db import connection

from tests.services import REDIS_URL, require

ROOT = Path(__file__).resolve().parent.parent
CELERY = Path(sys.executable).parent / "celery"
READY_MARK = " ready."
_INHERITED_CELERY_VARS = ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    hostname: str
    queue: str
    broker_url: str
    result_backend: str
    var_dir: Path | None
    log_path: Path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the worker and its pool children (they share a process group)."""
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, *, graceful: bool = False, timeout: float = 15.0) -> None:
        """Stop the worker; at once by default (tests need no clean shutdown).

        A graceful stop (SIGTERM: finish the running task) takes about 4 s on
        the filesystem broker, whose event loop only checks for it between
        polls.
        """
        if graceful and self.process.poll() is None:
            self.kill(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill(signal.SIGKILL)
        self.process.wait(timeout=timeout)


def filesystem_transport_options(var_dir: Path) -> dict[str, object]:
    """The folders config/settings.py uses for `filesystem://` under VAR_DIR."""
    broker = Path(var_dir) / "broker"
    return {
        "data_folder_in": str(broker / "queue"),
        "data_folder_out": str(broker / "queue"),
        "control_folder": str(broker / "control"),
        "processed_folder": str(broker / "processed"),
        "store_processed": False,
        "polling_interval": 0.2,
    }


def filesystem_broker(var_dir: Path) -> dict[str, object]:
    """Arguments for `celery_worker()` to use the embedded on-disk broker."""
    return {
        "broker_url": "filesystem://localhost/",
        "result_backend": f"file://{Path(var_dir) / 'celery-results'}",
        "var_dir": Path(var_dir),
    }


def app_broker() -> dict[str, object]:
    """Arguments for `celery_worker()` to use the broker the test process uses."""
    from django.conf import settings

    return {
        "broker_url": settings.CELERY_BROKER_URL,
        "result_backend": settings.CELERY_RESULT_BACKEND,
        "var_dir": settings.VAR_DIR,
    }


def worker_database_env() -> dict[str, str]:
    """DATABASE_URL of the test database, for a worker to read and write it.

    Call it inside a test that uses the database (the test database exists and
    its name is in the connection settings then).
    """
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        name = str(db["NAME"])
        if not name or name == ":memory:" or "mode=memory" in name:
            pytest.fail(
                "a worker cannot see an in-memory SQLite test database: "
                "set TEST_SQLITE_NAME=/some/file.sqlite3 (python3 dev.py test does)"
            )
        return {"DATABASE_URL": f"sqlite:///{name}"}
    if connection.vendor == "postgresql":
        auth = db["USER"] or ""
        if db.get("PASSWORD"):
            auth += f":{db['PASSWORD']}"
        host = db.get("HOST") or "127.0.0.1"
        port = db.get("PORT") or 5432
        at = f"{auth}@" if auth else ""
        return {"DATABASE_URL": f"postgres://{at}{host}:{port}/{db['NAME']}"}
    raise NotImplementedError(f"no worker DATABASE_URL for {connection.vendor}")


def client_app(worker: Worker) -> Celery:
    """A Celery app, independent of Django's, that talks to `worker`."""
    # Celery lets the CELERY_BROKER_URL / CELERY_RESULT_BACKEND environment
    # variables (set in CI for the test process) win over app.conf.broker_url
    # and result_backend; the read/write URLs and the backend argument do not.
    app = Celery(
        f"client-{worker.hostname}",
        backend=worker.result_backend,
        set_as_current=False,
    )
    app.conf.broker_url = worker.broker_url
    app.conf.broker_read_url = worker.broker_url
    app.conf.broker_write_url = worker.broker_url
    app.conf.task_default_queue = worker.queue
    if worker.broker_url.startswith("filesystem://") and worker.var_dir:
        app.conf.broker_transport_options = filesystem_transport_options(worker.var_dir)
    return app


@contextmanager
def route_tasks_to(worker: Worker) -> Iterator[None]:
    """Send the project's tasks (those without an explicit queue) to `worker`."""
    from config.celery import app

    previous = app.conf.task_default_queue
    app.conf.task_default_queue = worker.queue
    try:
        yield
    finally:
        app.conf.task_default_queue = previous


def _worker_env(
    *,
    broker_url: str,
    result_backend: str,
    var_dir: Path | None,
    env: Mapping[str, str] | None,
) -> dict[str, str]:
    full = dict(os.environ)
    for name in _INHERITED_CELERY_VARS:
        full.pop(name, None)
    full.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "CELERY_BROKER_URL": broker_url,
            "CELERY_RESULT_BACKEND": result_backend,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if var_dir is not None:
        full["VAR_DIR"] = str(var_dir)
    full.update(env or {})
    return full


def _wait_ready(worker: Worker, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if READY_MARK in worker.log:
            return
        if worker.process.poll() is not None:
            raise RuntimeError(
                f"Celery worker exited with {worker.process.returncode} before "
                f"being ready:\n{worker.log}"
            )
        time.sleep(0.05)
    worker.stop()
    raise TimeoutError(f"Celery worker not ready after {timeout}s:\n{worker.log}")


@contextmanager
def celery_worker(
    *,
    broker_url: str,
    result_backend: str | None = None,
    var_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    queue: str | None = None,
    pool: str = "solo",
    concurrency: int = 1,
    ready_timeout: float = 30.0,
    log_dir: Path | None = None,
) -> Iterator[Worker]:
    """Run a real `celery -A config worker` while the block runs.

    `pool="solo"` starts fastest and runs one task at a time in the worker
    process itself; use `pool="prefork", concurrency=N` to test parallel
    execution or a pool child being killed.
    """
    name = uuid.uuid4().hex[:10]
    hostname = f"test-{name}@%h"
    queue = queue or f"test-{name}"
    backend = result_backend or broker_url
    logs = Path(log_dir or tempfile.gettempdir())
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"worker-{name}.log"
    command = [
        str(CELERY),
        "-A",
        "config",
        "worker",
        "--loglevel=INFO",
        f"--pool={pool}",
        f"--concurrency={concurrency}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-Q",
        queue,
        "-n",
        hostname,
    ]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=_worker_env(
                broker_url=broker_url,
                result_backend=backend,
                var_dir=var_dir,
                env=env,
            ),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: kill() reaches the pool
        )
    worker = Worker(
        process=process,
        hostname=hostname,
        queue=queue,
        broker_url=broker_url,
        result_backend=backend,
        var_dir=Path(var_dir) if var_dir else None,
        log_path=log_path,
    )
    try:
        _wait_ready(worker, ready_timeout)
        yield worker
    finally:
        worker.stop()
        if log_dir is None:
            log_path.unlink(missing_ok=True)


# --- A worker for the sending pipeline against the test database ------------
# Short backoffs and leases so crash and retry tests run in seconds; the test
# plays Celery beat by sending the dispatcher's tick by name (beat_until).

FAST = {
    "DJANGO_SETTINGS_MODULE": "tests.sending_settings",
    "SEND_RETRY_BASE": "1",
    "SEND_RETRY_MAX": "4",
    "SEND_MAX_ATTEMPTS": "30",
    "SEND_ENQUEUE_LEASE": "3",
    "SEND_CLAIM_TIMEOUT": "3",
    "SEND_CHUNK_SIZE": "20",
}


def _test_database_env() -> dict[str, str]:
    if connection.vendor == "sqlite" and "memory" in str(
        connection.settings_dict["NAME"]
    ):
        require(
            False, "worker tests need TEST_SQLITE_NAME=/path/test.sqlite3 on SQLite"
        )
    return worker_database_env()


@contextmanager
def sending_worker(
    env: dict[str, str],
    *,
    broker_url: str = "",
    queue: str = "",
    **options: object,
) -> Iterator[Worker]:
    queue = queue or f"test-{uuid.uuid4().hex[:10]}"
    full = {**FAST, **_test_database_env(), **env, "CELERY_TASK_DEFAULT_QUEUE": queue}
    with celery_worker(
        broker_url=broker_url or REDIS_URL, queue=queue, env=full, **options
    ) as w:
        yield w


def beat_until(w: Worker, done: Callable[[], bool], timeout: float) -> bool:
    app = client_app(w)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.send_task("notifications.dispatch", queue=w.queue, expires=5)
        if done():
            return True
        time.sleep(0.5)
    return done()


def beat_through(
    w: Worker, done: Callable[[], bool], timeout: float, *, every: float = 0.5
) -> bool:
    """beat_until through a broker fault: a tick that cannot be sent (the
    broker is down or restarting) is skipped, as beat's would be."""
    app = client_app(w)
    app.conf.broker_connection_retry = False
    app.conf.broker_connection_timeout = 1
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            app.send_task(
                "notifications.dispatch", queue=w.queue, expires=5, retry=False
            )
        except Exception:  # the broker is away: beat loses this tick too
            app.pool.force_close_all()
        if done():
            return True
        time.sleep(every)
    return done()
