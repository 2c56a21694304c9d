"""SCIM provisioning benchmark: creating users one request at a time, as
Entra ID and Okta do, through gunicorn on PostgreSQL.

    .venv/bin/python bench/bench_scim.py [--users 10000]
        [--database-url postgres://postgres@127.0.0.1:5432/bench_scim]

The server runs as the Procfile's web line does (2 gthread workers of 4
threads); one client sends one request, waits for the answer, sends the next
(a provisioning cycle is sequential), on one keep-alive connection.

Measures, in one run and against the same server:

- reference: a bare Django view (same middleware stack) that reads the same
  JSON body and creates the same Employee row with one ORM create();
- SCIM: POST /scim/v2/Users with a bearer token: authentication, mapping,
  uniqueness checks, the employee and its SCIM row, an audit-chain entry.

Prints users/s, p50/p99 latency and the ratio SCIM/reference. No target in
the issue beyond "report it"; a provisioning cycle of 10,000 users is bound
by the identity provider's pace (Entra ID: a cycle every 40 minutes).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    django_setup,
    free_port,
    fresh_database,
    gunicorn,
    server_env,
)

REFERENCE_PATH = "/bench-reference/"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


# --- the WSGI application gunicorn runs (bench.bench_scim:application) -----

if os.environ.get("BENCH_SCIM_WSGI") == "1":
    django_setup()
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application
    from django.http import HttpResponse
    from django.urls import include, path
    from django.views.decorators.csrf import csrf_exempt

    from employees.models import Employee

    @csrf_exempt
    def reference(request):  # type: ignore[no-untyped-def]
        """The plain way: the same body, one ORM create of the same row."""
        body = json.loads(request.body)
        employee = Employee.objects.create(
            email=body["emails"][0]["value"],
            hr_id=body["externalId"],
            first_name=body["name"]["givenName"],
            last_name=body["name"]["familyName"],
            department=body[ENTERPRISE]["department"],
            language=body["preferredLanguage"][:2],
        )
        return HttpResponse(
            json.dumps({"id": str(employee.pk)}),
            status=201,
            content_type="application/json",
        )

    urlpatterns = [
        path("bench-reference/", reference),
        path("", include("config.urls")),
    ]
    settings.ROOT_URLCONF = "bench.bench_scim"
    application = get_wsgi_application()


# --- the driver ----------------------------------------------------------------


def _body(prefix: str, n: int) -> bytes:
    email = f"{prefix}{n}@example.com"
    return json.dumps(
        {
            "schemas": [CORE, ENTERPRISE],
            "externalId": f"{prefix}-{n}",
            "userName": email,
            "name": {"givenName": f"First{n}", "familyName": f"Last{n}"},
            "emails": [{"value": email, "type": "work", "primary": True}],
            "preferredLanguage": "de-DE" if n % 3 else "fr-FR",
            "active": True,
            ENTERPRISE: {"department": f"Dept{n % 20}"},
        }
    ).encode()


def _run(port: int, path: str, headers: dict, prefix: str, users: int) -> dict:
    """``users`` POSTs one after the other on one connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies = []
    failures = 0
    started = time.perf_counter()
    for n in range(users):
        body = _body(prefix, n)
        sent = time.perf_counter()
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - sent)
        failures += response.status != 201
    elapsed = time.perf_counter() - started
    conn.close()
    latencies.sort()
    return {
        "rate": users / elapsed,
        "p50": latencies[len(latencies) // 2] * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "failures": failures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_scim"
        ),
    )
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-scim-") as tmp:
        env = server_env(
            args.database_url, Path(tmp) / "var", port, LANGUAGES="fr,en,de"
        )
        os.environ.update(env)
        fresh_database(args.database_url)
        django_setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from directory.scim.auth import token_create

        _row, token = token_create(name="bench")
        with gunicorn(
            "bench.bench_scim:application",
            port=port,
            env={**env, "BENCH_SCIM_WSGI": "1"},
            ready="/scim/v2/ServiceProviderConfig",
            ready_headers={"Authorization": f"Bearer {token}"},
        ):
            json_type = {"Content-Type": "application/scim+json"}
            scim_headers = {**json_type, "Authorization": f"Bearer {token}"}
            # Warm both workers (connections, imports).
            _run(port, REFERENCE_PATH, json_type, "warm-ref", 50)
            _run(port, "/scim/v2/Users", scim_headers, "warm-scim", 50)
            reference = _run(port, REFERENCE_PATH, json_type, "ref", args.users)
            scim = _run(port, "/scim/v2/Users", scim_headers, "scim", args.users)
    print(
        f"{args.users} users created one request at a time, gunicorn 2 gthread "
        f"workers x 4 threads, PostgreSQL; load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(f"{'':<11}{'users/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'failed':>8}")
    for name, r in (("reference", reference), ("SCIM", scim)):
        print(
            f"{name:<11}{r['rate']:>10.0f}{r['p50']:>10.2f}{r['p99']:>10.2f}"
            f"{r['failures']:>8}"
        )
    print(f"SCIM/reference ratio {scim['rate'] / reference['rate']:.2f}")


if __name__ == "__main__":
    main()
