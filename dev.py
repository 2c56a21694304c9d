#!/usr/bin/env python3
"""The two set-up commands of the README, on a machine with nothing but Python 3.11+.

    python3 dev.py demo   # web + worker + beat with demo data, mail in var/outbox/
    python3 dev.py test   # the test suite (extra arguments go to pytest)

Both create .venv/ and install requirements-dev.txt into it the first time (and
again whenever a requirements file changes). Only the standard library is used
here, since nothing else is installed yet when it runs.
"""

from __future__ import annotations

import hashlib
import os
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


def demo(python: Path, extra: list[str]) -> int:
    env = dict(os.environ)
    env.setdefault("DEBUG", "true")
    # The Procfile's commands (python, celery) must be the virtualenv's.
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    _run(python, "manage.py", "migrate", "--noinput", env=env)
    _run(python, "manage.py", "load_demo", env=env)
    honcho = [
        str(python),
        "-m",
        "honcho",
        "-f",
        str(ROOT / "Procfile.dev"),
        "start",
        *extra,
    ]
    print("Starting web, worker and beat (Ctrl-C stops them all) ...", flush=True)
    try:
        return subprocess.call(honcho, cwd=ROOT, env=env)
    except KeyboardInterrupt:
        return 0


def test(python: Path, extra: list[str]) -> int:
    return subprocess.call([str(python), "-m", "pytest", *extra], cwd=ROOT)


COMMANDS = {"demo": demo, "test": test}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        return 2
    python = ensure_venv()
    return COMMANDS[sys.argv[1]](python, sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
