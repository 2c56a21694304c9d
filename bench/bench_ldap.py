"""LDAP / Active Directory sync benchmark: ``sync_directory``'s work
(``directory.ldap.sync.directory_sync``) on 100,000 entries of a local slapd
(tests/slapd.py: its own throwaway server, a size limit of 1,000 as AD's, so
every search pages), on PostgreSQL: a first sync that creates everyone, then
a re-sync that changes nothing. Beside it, in the same run, the plain
reference: a bare ldap3 paged search reading the same entries and attributes
and doing nothing with them — what the server and the client library cost.
The ratio says how close the sync is to that.

    .venv/bin/python bench/bench_ldap.py [--entries N] [--database-url URL]

Needs slapd (apt-get install slapd ldap-utils) and PostgreSQL; the database
named in --database-url (default postgres://postgres@127.0.0.1:5432/bench_ldap)
is dropped and created again. Target on the 2-core reference machine: a
re-sync that changes nothing at 5,000 entries/s or more.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import cpu_by_pid, cpu_delta, fresh_database  # noqa: E402
from tests import slapd  # noqa: E402

PAGE_SIZE = 500
FIRST = ["Hélène", "Øyvind", "Jürgen", "Đặng", "Chloé", "Zoë", "Łukasz", "Mary"]
LAST = ["Müller", "Dupont", "Lefèvre", "O'Brien", "Nguyễn", "García", "Kowalski"]
DEPARTMENTS = ["Finance", "RH", "IT", "Ventes", "Juridique", "Logistique", "R&D"]
SITES = ["Paris", "Lyon", "Bruxelles", "Dublin", "Berlin", "Madrid"]
LANGUAGES = ["fr-FR", "en-GB", "de", "fr", "en"]


def _dn(number: int) -> str:
    return f"uid=p{number:06d},{slapd.PEOPLE}"


def _entries(count: int):  # type: ignore[no-untyped-def]
    yield slapd.base_ldif()
    for n in range(count):
        attributes = {
            "objectClass": "inetOrgPerson",
            "uid": f"p{n:06d}",
            "cn": f"p{n}",
            "givenName": FIRST[n % len(FIRST)],
            "sn": LAST[n % len(LAST)],
            "mail": f"person{n}@example.com",
            "employeeNumber": f"{n:06d}",
            "departmentNumber": DEPARTMENTS[n % len(DEPARTMENTS)],
            "l": SITES[n % len(SITES)],
            "preferredLanguage": LANGUAGES[n % len(LANGUAGES)],
        }
        if n % 10:
            attributes["manager"] = _dn(n // 10 * 10)
        yield slapd.ldif_entry(_dn(n), attributes)


# The server's process and this process's PostgreSQL backend, whose CPU is
# read beside ours (other PostgreSQL backends on the machine are not ours).
WATCHED: set[int] = set()


def _others() -> dict[int, float]:
    """CPU seconds of slapd and of our PostgreSQL backend, by pid."""
    found = cpu_by_pid(lambda command, _group: command in ("slapd", "postgres"))
    return {pid: cpu for pid, cpu in found.items() if pid in WATCHED}


def _cpu_note(cpu: float, others: float, count: int) -> str:
    return (
        f"CPU: this process {cpu:5.2f} s, slapd + our PostgreSQL backend {others:5.2f} s; "
        f"{count / cpu:>6.0f} entries per CPU-second of this process"
    )


def _reference(server: slapd.Slapd, attributes: list[str]) -> tuple[int, float]:
    """A bare paged search with ldap3, on a connection set up as the sync's
    (the same receive buffer): every entry read, nothing done."""
    import ldap3

    from directory.ldap.client import RECEIVE_BUFFER

    connection = ldap3.Connection(
        ldap3.Server(server.url, get_info=ldap3.NONE),
        slapd.SERVICE_DN,
        slapd.SERVICE_PASSWORD,
        read_only=True,
    )
    connection.strategy.socket_size = RECEIVE_BUFFER
    connection.bind()
    others = _others()
    started, cpu_started = time.perf_counter(), time.process_time()
    count, cookie = 0, None
    while True:
        connection.search(
            slapd.PEOPLE,
            "(&(objectClass=inetOrgPerson)(mail=*))",
            attributes=attributes,
            paged_size=PAGE_SIZE,
            paged_cookie=cookie,
        )
        count += sum(1 for r in connection.response if r["type"] == "searchResEntry")
        control = connection.result["controls"]["1.2.840.113556.1.4.319"]
        cookie = control["value"]["cookie"]
        if not cookie:
            break
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    connection.unbind()
    print(
        f"reference, bare ldap3 paged search: {count} entries in {elapsed:6.2f} s = "
        f"{count / elapsed:>6.0f} entries/s  ({_cpu_note(cpu, cpu_delta(others, _others()), count)})"
    )
    return count, elapsed


def _sync(label: str, expected: int, reference_rate: float) -> None:
    from directory.ldap.sync import directory_sync

    others = _others()
    started, cpu_started = time.perf_counter(), time.process_time()
    outcome = directory_sync(actor="bench")
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    result = outcome.result
    assert outcome.error is None and result is not None and result.written, (
        outcome.error,
        result and result.errors[:3],
    )
    assert result.rows == expected, result.rows
    rate = expected / elapsed
    print(
        f"{label:<28} {expected:>7} entries in {elapsed:6.2f} s = {rate:>6.0f} entries/s "
        f"= {rate / reference_rate:4.2f} x the bare search  "
        f"(created {result.created}, updated {result.updated}, "
        f"unchanged {result.unchanged}, deactivated {result.deactivated})\n"
        f"{'':<28} {_cpu_note(cpu, cpu_delta(others, _others()), expected)}; "
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/bench_ldap"
    )
    args = parser.parse_args()
    if not slapd.slapd_available():
        sys.exit("slapd is not installed (apt-get install slapd ldap-utils)")
    fresh_database(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["VAR_DIR"] = tempfile.mkdtemp(prefix="bench-ldap-")

    started = time.perf_counter()
    server = slapd.Slapd(size_limit=1000).load(_entries(args.entries)).start()
    print(
        f"slapd: {args.entries} entries loaded in {time.perf_counter() - started:.1f} s"
    )
    try:
        os.environ.update(
            DIRECTORY_LDAP_URL=server.url,
            DIRECTORY_LDAP_BIND_DN=slapd.SERVICE_DN,
            DIRECTORY_LDAP_BIND_PASSWORD=slapd.SERVICE_PASSWORD,
            DIRECTORY_LDAP_BASE_DN=slapd.PEOPLE,
            DIRECTORY_LDAP_PAGE_SIZE=str(PAGE_SIZE),
        )
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection

        from directory.ldap.mapping import requested_attributes

        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            WATCHED.update({server.process.pid, cursor.fetchone()[0]})
        attributes = requested_attributes(settings.DIRECTORY_LDAP_ATTRIBUTES)
        print(f"database: {connection.vendor}; load average {os.getloadavg()[0]:.1f}")
        count, elapsed = _reference(server, attributes)
        assert count == args.entries, count
        _sync("first sync (all created)", args.entries, count / elapsed)
        count, elapsed = _reference(server, attributes)
        _sync("re-sync, nothing changed", args.entries, count / elapsed)
        print(f"load average {os.getloadavg()[0]:.1f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
