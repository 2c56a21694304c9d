"""Benchmark: the machine's reference figures for the SMTP send target.

Issue 3 sets "SMTP at least 800 messages/s" on a machine where "an aiosmtpd
sink on loopback takes about 1,300/s from one reused Django SMTP connection;
one connection per message manages about 640/s". This script measures those two
figures on the machine it runs on, with the same sink as ``bench_send.py`` (in
this process, on a thread) and Django's SMTP backend in a second process (as the
Celery workers are), so a run of ``bench_send.py`` can be read against the
machine it ran on:

    .venv/bin/python bench/bench_smtp_reference.py
    .venv/bin/python bench/bench_smtp_reference.py --messages 10000 --body-bytes 4000

Nothing of the application is involved: plain ``EmailMessage`` objects, built
and sent one by one.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def send(port: int, messages: int, body_bytes: int, reuse: bool) -> None:
    """The sending side (run in its own process): Django's SMTP backend."""
    from django.conf import settings

    settings.configure(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=port,
        EMAIL_TIMEOUT=10,
    )
    from django.core.mail import EmailMessage, get_connection

    body = ("Bonjour, voici ce qu'il faut faire avant la date limite. " * 100)[
        :body_bytes
    ]
    connection = get_connection()
    started = time.perf_counter()
    if reuse:
        connection.open()
    for i in range(messages):
        message = EmailMessage(
            subject=f"Reference message {i}",
            body=body,
            from_email="dpo@example.com",
            to=[f"person{i}@example.com"],
            connection=connection,
        )
        message.send()
    if reuse:
        connection.close()
    # Timed here, not around the process, so interpreter start-up is left out.
    print(time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--body-bytes", type=int, default=2000)
    parser.add_argument("--send", type=int, help=argparse.SUPPRESS)  # sink port
    parser.add_argument("--reuse", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.send:
        send(args.send, args.messages, args.body_bytes, args.reuse)
        return

    # aiosmtpd logs every SMTP command at INFO: that alone would cap the sink.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    from tests.fake_esp import SmtpSink

    print(
        f"{args.messages} messages of a {args.body_bytes}-byte plain-text body, "
        f"Django's SMTP backend in a second process, aiosmtpd sink in this one"
    )
    for reuse, label in (
        (True, "one reused connection"),
        (False, "one connection per message"),
    ):
        with SmtpSink(keep_messages=False) as sink:
            child = subprocess.run(
                [sys.executable, __file__, "--send", str(sink.port)]
                + [
                    "--messages",
                    str(args.messages),
                    "--body-bytes",
                    str(args.body_bytes),
                ]
                + (["--reuse"] if reuse else []),
                check=True,
                capture_output=True,
                text=True,
            )
            elapsed = float(child.stdout.split()[-1])
            print(
                f"{label:>27}: {sink.count} received in {elapsed:.2f}s "
                f"= {sink.count / elapsed:,.0f} msg/s"
            )
    print(
        f"(issue 3's machine: about 1,300 and 640 msg/s; "
        f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs)"
    )


if __name__ == "__main__":
    main()
