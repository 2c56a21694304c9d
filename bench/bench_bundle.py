"""Benchmark: the signed evidence bundle of a 100,000-recipient campaign.

A campaign with one message sent to each recipient and 40 % acknowledged is
made on a fresh PostgreSQL database, at two sizes (20,000 and 100,000
recipients unless told): the peak memory must not grow with the size. Then,
each in its own process so that its peak memory (RSS) is its own:

- the plain reference: a script that reads the same recipient and message
  rows with psycopg and writes them as JSON Lines into a deflated ZIP,
  nothing else (no hashes, no chain, no signature);
- ``evidence_bundle`` as a DPO runs it, timestamped by a real local TSA
  (openssl ts behind http.server, tests/tsa.py), twice: the 1st run finds
  the campaign never sealed and seals every record into the audit chain
  first, the 2nd finds everything sealed (the bundle alone);
- the auditor's ``verify.py`` on the bundle.

Prints wall seconds, CPU seconds (user + system of that process: the
machine is shared, and CPU time is what other load does not inflate) and
peak RSS of each, the ratios to the reference, and the records'
uncompressed size beside the peak memory (flat memory: the bundle is
streamed, not held). The PostgreSQL server's own CPU is in neither.

    .venv/bin/python bench/bench_bundle.py       # 20,000 then 100,000
    .venv/bin/python bench/bench_bundle.py --recipients 20000 \
        --database-url postgres://postgres@127.0.0.1:5432/bench_bundle
    .venv/bin/python bench/bench_bundle.py --reuse   # the last database
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import campaign_launched, fresh_database  # noqa: E402

TARGET_SECONDS = 60.0


def _setup(recipients: int) -> int:
    """The campaign: launched, first message sent to all, 40 % acknowledged."""
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    campaign_launched(recipients, name="Bundle bench")
    from notifications.models import (
        Acknowledgement,
        AcknowledgementKind,
        Campaign,
        Delivery,
        DeliveryStatus,
        Recipient,
        Step,
    )

    campaign = Campaign.objects.get(name="Bundle bench")
    step = Step.objects.filter(campaign=campaign).order_by("id").first()
    contents = {c.language: c for c in campaign.contents.filter(is_current=True)}
    default = next(iter(contents.values()))
    now = timezone.now()
    rows = Recipient.objects.filter(campaign=campaign).order_by("id")
    people = list(rows.values_list("id", "email", "language"))
    Delivery.objects.bulk_create(
        (
            Delivery(
                step=step,
                recipient_id=pk,
                to_email=email,
                language=language,
                status=DeliveryStatus.DELIVERED,
                content=contents.get(language, default),
                content_sha256=contents.get(language, default).sha256,
                esp_message_id=f"<{pk}@bench.example.com>",
                sent_at=now - timedelta(hours=2),
                status_at=now - timedelta(hours=1),
            )
            for pk, email, language in people
        ),
        batch_size=5000,
    )
    acked = [p for i, p in enumerate(people) if i % 5 < 2]
    Acknowledgement.objects.bulk_create(
        (
            Acknowledgement(
                recipient_id=pk,
                kind=AcknowledgementKind.FIRST,
                at=now - timedelta(minutes=30),
                answer="opted_out",
                content=contents.get(language, default),
                language=language,
            )
            for pk, _email, language in acked
        ),
        batch_size=5000,
    )
    Recipient.objects.filter(pk__in=[pk for pk, *_ in acked]).update(
        acknowledged_at=now - timedelta(minutes=30), answer="opted_out"
    )
    return campaign.pk


def _peak_rss_mb(pid: int) -> float:
    """The process's high-water RSS (VmHWM). Read from /proc while it runs:
    getrusage's ru_maxrss of a child also counts the parent's memory at
    fork, which would hide the figure."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def _child(command: list[str], env: dict[str, str]) -> tuple[float, float, float, str]:
    """Run ``command``: its wall seconds, peak RSS in MB, CPU seconds (user +
    system: what the machine's other load does not inflate), output."""
    started = time.perf_counter()
    peak = 0.0
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, _peak_rss_mb(process.pid))
            time.sleep(0.05)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        text = out.read().decode(errors="replace")
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{text}")
    return seconds, peak, usage.ru_utime + usage.ru_stime, text


def reference(database_url: str, campaign_id: int, out: Path) -> None:
    """The plain reference: the same rows as JSON Lines in a deflated ZIP."""
    import psycopg
    from psycopg.rows import dict_row

    queries = {
        "recipients.jsonl": (
            "SELECT id, employee_id, email, first_name, last_name, language, "
            "enrolled_at, acknowledged_at, answer, content_version_seen_id "
            "FROM notifications_recipient WHERE campaign_id = %s ORDER BY id"
        ),
        "messages.jsonl": (
            "SELECT d.id, d.step_id, d.recipient_id, d.to_email, d.language, "
            "d.status, d.content_id, d.content_sha256, d.esp_message_id, "
            "d.sent_at, d.status_at FROM notifications_delivery d JOIN "
            "notifications_step s ON s.id = d.step_id WHERE s.campaign_id = %s "
            "ORDER BY d.id"
        ),
    }
    with (
        psycopg.connect(database_url) as conn,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive,
    ):
        for name, sql in queries.items():
            with (
                archive.open(name, "w", force_zip64=True) as member,
                conn.cursor(name=f"c{uuid.uuid4().hex}", row_factory=dict_row) as cur,
            ):
                cur.itersize = 5000
                cur.execute(sql, (campaign_id,))
                for row in cur:
                    line = json.dumps(row, default=str, ensure_ascii=False)
                    member.write(line.encode() + b"\n")


def _records_size(bundle: Path) -> float:
    with zipfile.ZipFile(bundle) as archive:
        return (
            sum(
                i.file_size
                for i in archive.infolist()
                if i.filename.startswith("records/")
            )
            / 1e6
        )


NEVER = "bundle, never sealed (seals first)"
SEALED = "bundle, all sealed"


def _env(database_url: str, work: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-" + uuid.uuid4().hex * 2),
        "ALLOWED_HOSTS": "localhost",
        "SITE_URL": "https://notify.example.com",
        "VAR_DIR": str(work / "var"),
        "EVIDENCE_SIGNING_KEY": "",
        "EVIDENCE_BUNDLE_PSEUDONYMISE": "false",
    }


def _campaign(recipients: int, database_url: str, reuse: bool) -> int:
    """A fresh database holding the campaign (or the last one, ``reuse``)."""
    from django.db import connections

    connections.close_all()  # the drop below would cut this process off
    started = time.perf_counter()
    if reuse:
        from notifications.models import Campaign

        campaign_id = Campaign.objects.get(name="Bundle bench").pk
        print("setup: the campaign already in the database (--reuse)")
    else:
        fresh_database(database_url)
        campaign_id = _setup(recipients)
        print(
            f"setup: {recipients:,} recipients, one message each, 40 % "
            f"acknowledged, in {time.perf_counter() - started:.1f} s (not measured)"
        )
    connections.close_all()
    return campaign_id


def _measure(campaign_id: int, database_url: str, work: Path, env, tsa) -> dict:
    """The reference, then the campaign's bundle twice (the 1st seals every
    record first, the 2nd finds them sealed), then verify.py on the 2nd."""
    python, manage = sys.executable, str(ROOT / "manage.py")
    ref_out = work / "reference.zip"
    ref_command = [python, __file__, "--database-url", database_url,
                 "--reference", str(campaign_id), str(ref_out)]  # fmt: skip
    runs = {"plain reference (rows → JSONL zip)": _child(ref_command, env)[:3]}
    for label in (NEVER, SEALED):
        out = work / f"bundle-{len(runs)}.zip"
        command = [python, manage, "evidence_bundle", str(campaign_id), str(out)]
        runs[label] = _child(command, env)[:3]
    runs["verify.py (the auditor)"] = _child(
        [python, str(ROOT / "console/bundle/verify.py"), str(out),
         "--tsa-ca", str(tsa.ca_path)],
        env,
    )[:3]  # fmt: skip
    print(f"records in the bundle: {_records_size(out):.0f} MB of JSON Lines")
    print(
        f"{'run':<36}{'seconds':>9}{'CPU s':>8}{'peak RSS MB':>13}"
        f"{'x reference (s / CPU / RSS)':>30}"
    )
    ref = next(iter(runs.values()))
    for label, (seconds, rss, cpu) in runs.items():
        ratio = f"{seconds / ref[0]:.2f} / {cpu / ref[2]:.2f} / {rss / ref[1]:.2f}"
        print(f"{label:<36}{seconds:>9.1f}{cpu:>8.1f}{rss:>13.0f}{ratio:>30}")
    print(f"bundle: {out.stat().st_size / 1e6:.1f} MB")
    return runs


def _summary(results: dict[int, dict]) -> None:
    sizes = sorted(results)
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        print(f"\npeak RSS, {small:,} → {large:,} recipients (flat memory):")
        for label in ("plain reference (rows → JSONL zip)", NEVER, SEALED):
            a, b = results[small][label][1], results[large][label][1]
            print(f"  {label:<36}{a:>6.0f} MB → {b:>4.0f} MB  (x {b / a:.2f})")
    largest = results[sizes[-1]]
    worst = max(largest[NEVER][0], largest[SEALED][0])
    verdict = "met" if worst < TARGET_SECONDS else "MISSED"
    print(
        f"target: a bundle of {sizes[-1]:,} recipients in under "
        f"{TARGET_SECONDS:.0f} s, sealed or not — {verdict} ({worst:.1f} s)"
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine load average (1, 5, 15 min): {load} on {os.cpu_count()} cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--recipients",
        type=int,
        nargs="+",
        help="campaign sizes, each measured on a fresh database (default: "
        "20000 100000, to compare the peak memory)",
    )
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/bench_bundle"
    )
    parser.add_argument("--reference", nargs=2, metavar=("CAMPAIGN", "OUT"))
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the database of an earlier run, one size only (its first "
        "bundle then finds the records sealed already)",
    )
    args = parser.parse_args()
    if args.reference:
        reference(args.database_url, int(args.reference[0]), Path(args.reference[1]))
        return
    sizes = args.recipients or ([100_000] if args.reuse else [20_000, 100_000])
    if args.reuse and len(sizes) > 1:
        parser.error("--reuse measures the one campaign of the database: one size")

    work = Path(tempfile.mkdtemp(prefix="bench-bundle-"))
    env = _env(args.database_url, work)
    os.environ.update(env)
    import django

    django.setup()
    from tests.tsa import LocalTsa

    results = {}
    with LocalTsa() as tsa:
        env["EVIDENCE_TSA_URL"] = tsa.url
        for recipients in sizes:
            print(f"\n== {recipients:,} recipients")
            campaign_id = _campaign(recipients, args.database_url, args.reuse)
            results[recipients] = _measure(
                campaign_id, args.database_url, work, env, tsa
            )
    _summary(results)
    print(f"files: {work} (delete when done)")


if __name__ == "__main__":
    main()
