"""What the benchmarks share: a fresh database, and CPU read from /proc."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse


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


def cpu_by_pid(wanted: Callable[[str, int], bool]) -> dict[int, float]:
    """User + system CPU seconds of every live process for which
    ``wanted(command name, process group)`` is true, by pid (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        command = raw[raw.index("(") + 1 : raw.rindex(")")]
        # After the command: state, ppid, pgrp, ..., utime (12th), stime (13th).
        fields = raw.rsplit(")", 1)[1].split()
        if wanted(command, int(fields[2])):
            found[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    return found


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two cpu_by_pid() readings (new processes count
    from zero)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
