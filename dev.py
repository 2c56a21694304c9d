#!/usr/bin/env python3
"""The two set-up commands of the README, on a machine with nothing but Python 3.11+.

    python3 dev.py demo   # web + worker + beat with demo data, mail in var/outbox/
    python3 dev.py test   # the test suite (extra arguments go to pytest)
    python3 dev.py setup  # only create/update .venv (used by .ci/run)

Both create .venv/ and install requirements-dev.txt into it the first time (and
again whenever a requirements file changes). Only the standard library is used
here, since nothing else is installed yet when it runs.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
REQUIREMENTS = [ROOT / "requirements.txt", ROOT / "requirements-dev.txt"]
STAMP = VENV / ".requirements.sha256"


def _venv_python() -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def _requirements_hash() -> str:
    digest = hashlib.sha256()
    for path in REQUIREMENTS:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_venv() -> Path:
    """Create the virtualenv and install pinned requirements when they changed."""
    if sys.version_info < (3, 11):  # noqa: UP036 (this file runs on any python3)
        sys.exit(f"Python 3.11 or newer is needed, this is {sys.version.split()[0]}")
    python = _venv_python()
    if not python.exists():
        print("Creating .venv ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    wanted = _requirements_hash()
    if not STAMP.exists() or STAMP.read_text().strip() != wanted:
        print(
            "Installing requirements into .venv (first run takes a minute) ...",
            flush=True,
        )
        pip = [str(python), "-m", "pip", "--disable-pip-version-check", "install", "-q"]
        subprocess.run([*pip, "-r", str(ROOT / "requirements-dev.txt")], check=True)
        STAMP.write_text(wanted)
    return python


def _run(python: Path, *args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run([str(python), *args], check=True, cwd=ROOT, env=env)


def _dotenv() -> dict[str, str]:
    """KEY=value lines of .env, read the way honcho reads them for the Procfile."""
    path = ROOT / ".env"
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for line in path.read_text().splitlines():
        try:
            tokens = list(shlex.shlex(line, posix=True))
        except ValueError:  # an unclosed quote: honcho fails on it too
            sys.exit(f".env: cannot read this line: {line}")
        if len(tokens) >= 3 and tokens[1] == "=":
            values[tokens[0]] = "".join(tokens[2:])
    return values


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _demo_env(python: Path) -> dict[str, str]:
    # Same precedence as honcho for the Procfile's processes: .env wins.
    env = {**os.environ, **_dotenv()}
    env.setdefault("DEBUG", "true")
    env.setdefault("PORT", "8000")
    env.setdefault("SITE_URL", f"http://localhost:{env['PORT']}")
    # The Procfile's commands (python, celery) must be the virtualenv's.
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def demo(python: Path, extra: list[str]) -> int:
    env = _demo_env(python)
    port = int(env["PORT"])
    if _port_in_use(port):
        print(
            f"Port {port} is already in use (another demo still running?). "
            f"Stop it, or pick another port: PORT={port + 1} python3 dev.py demo",
            file=sys.stderr,
        )
        return 1
    var = Path(env.get("VAR_DIR", ROOT / "var"))
    outbox = Path(env.get("EMAIL_FILE_PATH", var / "outbox"))
    outbox.mkdir(parents=True, exist_ok=True)
    _run(python, "manage.py", "migrate", "--noinput", env=env)
    _run(python, "manage.py", "load_demo", env=env)
    print(
        f"\nStarting web, worker and beat (Ctrl-C stops them all) ...\n"
        f"  admin:  {env['SITE_URL']}/admin/  (login printed above)\n"
        f"  mail:   every message sent lands as a file in {outbox}/\n",
        flush=True,
    )
    honcho = [str(python), "-m", "honcho", "-f", str(ROOT / "Procfile.dev")]
    honcho += ["start", *extra]
    if os.name == "posix":
        # Become honcho, so Ctrl-C or a SIGTERM sent to this process reaches
        # it directly and it stops web, worker and beat (process groups).
        os.chdir(ROOT)
        os.execve(str(python), honcho, env)  # noqa: S606 (no shell involved)
    try:
        return subprocess.call(honcho, cwd=ROOT, env=env)
    except KeyboardInterrupt:
        return 0


def test(python: Path, extra: list[str]) -> int:
    command = [str(python), "-m", "pytest", *extra]
    env = dict(os.environ)
    sqlite = env.get("DATABASE_URL", "sqlite").startswith("sqlite")
    if not sqlite or env.get("TEST_SQLITE_NAME"):
        return subprocess.call(command, cwd=ROOT)
    # On SQLite the test database is a file (not Django's in-memory default)
    # so that the Celery worker processes some tests start can open it too;
    # one per run, so two runs side by side do not share it.
    name = ROOT / "var" / f"test-db-{os.getpid()}.sqlite3"
    name.parent.mkdir(exist_ok=True)
    env["TEST_SQLITE_NAME"] = str(name)
    try:
        return subprocess.call(command, cwd=ROOT, env=env)
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{name}{suffix}").unlink(missing_ok=True)


def setup(python: Path, extra: list[str]) -> int:
    """Only create/refresh .venv (demo and test do it too); used by .ci/run."""
    return 0


COMMANDS = {"demo": demo, "test": test, "setup": setup}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        return 2
    python = ensure_venv()
    return COMMANDS[sys.argv[1]](python, sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
