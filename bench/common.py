"""What the benchmarks share: a fresh database, a launched campaign, CPU
read from /proc, and a gunicorn server on loopback set up as in production."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent


def fresh_database(url: str) -> None:
    """Drop and re-create the PostgreSQL database named in ``url``, or delete
    the SQLite file (and its journal files) it names."""
    parsed = urlparse(url)
    if parsed.scheme.startswith("postgres"):
        import psycopg

        name = parsed.path.lstrip("/")
        admin = parsed._replace(path="/postgres").geturl()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    else:
        path = Path(parsed.path)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def _stat(pid: int | str) -> tuple[str, list[str]] | None:
    """A live process's command name and the fields after it in
    /proc/<pid>/stat (state, ppid, pgrp, ..., utime 12th, stime 13th)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    command = raw[raw.index("(") + 1 : raw.rindex(")")]
    return command, raw.rsplit(")", 1)[1].split()


def _seconds(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_by_pid(wanted: Callable[[str, int], bool]) -> dict[int, float]:
    """User + system CPU seconds of every live process for which
    ``wanted(command name, process group)`` is true, by pid (Linux /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or (stat := _stat(entry.name)) is None:
            continue
        command, fields = stat
        if wanted(command, int(fields[2])):
            found[int(entry.name)] = _seconds(fields)
    return found


def cpu_of(pid: int | None) -> float:
    """User + system CPU seconds of one live process (0 when it is gone)."""
    stat = _stat(pid) if pid is not None else None
    return _seconds(stat[1]) if stat else 0.0


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two cpu_by_pid() readings (new processes count
    from zero)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def campaign_launched(
    recipients: int,
    *,
    name: str,
    languages: tuple[str, ...] = (),
    zones: tuple[str, ...] = (),
    country: str = "",
) -> object:
    """Create ``recipients`` employees and launch the LinkedIn campaign for
    them with no send window (its first step is due at once); returns the
    campaign. Django must be set up and the database migrated.

    By default two thirds write in French and a third in English, in no zone
    of their own. ``languages`` and ``zones`` are cycled through instead
    (person i speaks languages[i % n] and lives in zones[i % m]); ``country``
    sets their country / site and narrows the campaign's audience to it, so
    that several campaigns can run on one database."""

    from employees.models import Employee

    prefix = f"{country.lower()}." if country else ""
    Employee.objects.bulk_create(
        (
            Employee(
                email=f"person{i}@{prefix}example.com",
                first_name=f"First{i}",
                last_name=f"Last{i}",
                language=languages[i % len(languages)]
                if languages
                else ("fr" if i % 3 else "en"),
                time_zone=zones[i % len(zones)] if zones else "",
                country=country,
            )
            for i in range(recipients)
        ),
        batch_size=2000,
    )
    return campaign_for(name=name, country=country)


def campaign_for(*, name: str, country: str = "") -> object:
    """Launch the LinkedIn campaign, no send window, for the employees of
    ``country`` (everyone when empty); returns it."""
    from datetime import timedelta

    from django.utils import timezone

    from notifications.campaigns import services

    campaign = services.campaign_create(
        name=name,
        template="linkedin-ai-optout",
        deadline=timezone.now() + timedelta(days=10),
        window=services.WindowSpec(enabled=False),
        countries=[country] if country else None,
    )
    services.campaign_launch(campaign=campaign)
    return campaign


def django_setup() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(
    database_url: str, var_dir: Path, port: int, **extra: str
) -> dict[str, str]:
    """This process's environment plus the settings of a production server
    (DEBUG off, a fresh secret key) reached over plain HTTP on loopback;
    ``extra`` adds or overrides variables."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATABASE_CONN_MAX_AGE": "600",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SITE_URL": f"http://127.0.0.1:{port}",
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "BEHIND_PROXY": "false",
        "VAR_DIR": str(var_dir),
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def wait_up(
    url: str, headers: dict[str, str] | None = None, timeout: float = 30.0
) -> None:
    """Return once ``url`` answers with a success: a worker has loaded the
    application (gunicorn's master accepts connections before that)."""
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (loopback)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(request, timeout=1).read()  # noqa: S310 (loopback)
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer on {url}")


@contextmanager
def gunicorn(
    application: str,
    *,
    port: int,
    env: dict[str, str],
    ready: str,
    ready_headers: dict[str, str] | None = None,
    worker_class: str = "gthread",
    threads: int = 4,
    options: tuple[str, ...] = (),
) -> Iterator[subprocess.Popen]:
    """Run gunicorn as the Procfile's web line does (2 workers, by default
    gthread with 4 threads) on 127.0.0.1:``port`` until the block ends; the
    block starts once the path ``ready`` answers."""
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            application,
            "--workers",
            "2",
            "--worker-class",
            worker_class,
            "--threads",
            str(threads),
            "--bind",
            f"127.0.0.1:{port}",
            *options,
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        wait_up(f"http://127.0.0.1:{port}{ready}", ready_headers)
        yield server
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


class SinkApart:
    """A sink of tests/fake_esp.py (``"esp"``: FakePostmark, ``"smtp"``:
    SmtpSink), keeping no messages, served from a process of its own, with
    the count of messages received read here as ``count``.

    Why not in the bench's own process, as the tests do: bench_send runs the
    dispatcher's tick in its process, and a sink served by threads of that
    process waited for the GIL while the tick ran, so every worker's call
    was answered late during the tick and the figure charged that wait to
    the project (the plain reference, sent with no tick, never paid it). A
    real ESP or relay is another machine."""

    def __init__(self, kind: str) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._count = context.Value("q", 0, lock=False)
        self._env = context.Queue()
        self._stop = context.Event()
        self._process = context.Process(
            target=_serve_sink,
            args=(kind, self._count, self._env, self._stop),
            daemon=True,
        )
        self.environment: dict[str, str] = {}

    def __enter__(self) -> SinkApart:
        self._process.start()
        self.environment = self._env.get(timeout=60)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()

    @property
    def count(self) -> int:
        return self._count.value

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def env(self) -> dict[str, str]:
        return dict(self.environment)


def _serve_sink(kind: str, count: object, env: object, stop: object) -> None:
    """In the sink's process: serve until told to stop, counting into the
    shared value (the sinks add to ``count`` under their own lock)."""
    import logging

    sys.path.insert(0, str(ROOT))
    # aiosmtpd logs every SMTP command at INFO: that alone would cap the sink.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    from tests.fake_esp import FakePostmark, SmtpSink

    base = FakePostmark if kind == "esp" else SmtpSink

    class Counted(base):  # type: ignore[misc, valid-type]
        @property  # type: ignore[override]
        def count(self) -> int:
            return count.value  # type: ignore[attr-defined]

        @count.setter
        def count(self, value: int) -> None:
            count.value = value  # type: ignore[attr-defined]

    with Counted(keep_messages=False) as sink:
        env.put(sink.env())  # type: ignore[attr-defined]
        stop.wait()  # type: ignore[attr-defined]
