"""The outside world of the sending tests, for real: an SMTP server and an ESP.

`SmtpSink` is an aiosmtpd server on loopback that keeps every message it
accepted and can refuse chosen addresses (5xx) or defer them (4xx).
`FakePostmark` is a Postmark-shaped HTTP API on loopback (the endpoints and
JSON anymail's Postmark backend uses) that can answer 429 to its first calls.
Both run in threads of the test process; the Celery worker subprocess reaches
them over TCP exactly as it would reach the real ones.
"""

from __future__ import annotations

import asyncio
import email
import json
import socket
import threading
import uuid
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    to: str
    message: Message

    def header(self, name: str) -> str:
        return str(self.message.get(name, ""))


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.sink.reject:
            return "550 5.1.1 No such user here"
        if address.lower() in self.sink.defer:
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.sink.pause:
            await asyncio.sleep(self.sink.pause)
        if not self.sink.keep_messages:
            with self.sink.lock:
                self.sink.count += len(envelope.rcpt_tos)
            return "250 Message accepted"
        parsed = email.message_from_bytes(envelope.content)
        with self.sink.lock:
            for rcpt in envelope.rcpt_tos:
                self.sink.received.append(Received(rcpt.lower(), parsed))
                self.sink.count += 1
        return "250 Message accepted"


@dataclass
class SmtpSink:
    port: int = field(default_factory=free_port)
    reject: set[str] = field(default_factory=set)
    defer: set[str] = field(default_factory=set)
    keep_messages: bool = True
    # Seconds each message takes to be accepted: a slow server.
    pause: float = 0.0
    received: list[Received] = field(default_factory=list)
    count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Controller | None = None

    def start(self) -> SmtpSink:
        self._controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=self.port, ready_timeout=10
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def addresses(self) -> list[str]:
        with self.lock:
            return [r.to for r in self.received]

    def env(self) -> dict[str, str]:
        """What a worker process needs to send here."""
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(self.port),
            "EMAIL_TIMEOUT": "5",
        }


_BATCHES = ("/email/batchWithTemplates", "/email/batch")
# A message's "To" key in anymail's JSON (json.dumps' default separators).
# Inside a JSON string every quote is escaped, so these bytes only ever
# start a key "To" and its value.
_TO = b'"To": "'


def _addressees(body: bytes) -> list[str]:
    """Each message's "To", found with bytes.find (C speed: a regular
    expression scanning the bytes was slower than json.loads itself)."""
    found = []
    at = body.find(_TO)
    while at >= 0:
        start = at + len(_TO)
        end = body.index(b'"', start)
        while body[end - 1] == 0x5C:  # an escaped quote inside the address
            end = body.index(b'"', end + 1)
        found.append(json.loads(body[start - 1 : end + 1]))
        at = body.find(_TO, end)
    return found


@dataclass
class FakePostmark:
    """Postmark's /email, /email/batch and /email/batchWithTemplates on loopback."""

    token: str = "test-server-token"
    fail_first: int = 0
    fail_status: int = 429
    reject: set[str] = field(default_factory=set)
    keep_messages: bool = True
    messages: list[dict] = field(default_factory=list)
    message_ids: dict[str, str] = field(default_factory=dict)  # by address
    count: int = 0
    calls: int = 0
    failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}/"

    def start(self) -> FakePostmark:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, payload = fake.answer(
                    self.path, self.headers.get("X-Postmark-Server-Token"), body
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakePostmark:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _one(self, message: dict) -> dict:
        to = message.get("To", "")
        if to.lower() in self.reject:
            return {"ErrorCode": 300, "Message": f"Invalid 'To' address: '{to}'."}
        message_id = str(uuid.uuid4())
        if self.keep_messages:
            self.messages.append(message)
            self.message_ids[to.lower()] = message_id
        self.count += 1
        return {
            "ErrorCode": 0,
            "Message": "OK",
            "MessageID": message_id,
            "To": to,
            "SubmittedAt": "2025-10-01T10:00:00Z",
        }

    def answer(self, path: str, token: str | None, body: bytes) -> tuple[int, object]:
        with self.lock:
            self.calls += 1
            if token != self.token:
                return 401, {"ErrorCode": 10, "Message": "Bad or missing API token"}
            if self.failures < self.fail_first:
                self.failures += 1
                return self.fail_status, {"ErrorCode": 0, "Message": "Slow down"}
            if not self.keep_messages and path in _BATCHES:
                # Counting only (the benchmarks): each message's "To" found
                # in the bytes, not the whole body parsed. A 500-message call
                # in Bulgarian or Greek is about 4 MB of JSON (anymail writes
                # \u escapes); finding the addresses costs about a fifth of
                # json.loads (12 against 60 ms on 15 MB), and that CPU is on
                # the cores the benchmark measures.
                return 200, [self._one({"To": to}) for to in _addressees(body)]
            data = json.loads(body)
            if path == "/email/batchWithTemplates":
                return 200, [self._one(m) for m in data["Messages"]]
            if path == "/email/batch":
                return 200, [self._one(m) for m in data]
            if path in ("/email", "/email/withTemplate/"):
                return 200, self._one(data)
            return 404, {"ErrorCode": 404, "Message": f"no {path}"}

    def addresses(self) -> list[str]:
        with self.lock:
            return [m["To"].lower() for m in self.messages]

    def env(self, *, batch_template: str = "notify-passthrough") -> dict[str, str]:
        """What a worker process needs to send here (settings names)."""
        return {
            "EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend",
            "ANYMAIL_POSTMARK_SERVER_TOKEN": self.token,
            "ANYMAIL_POSTMARK_API_URL": self.url,
            "EMAIL_BATCH_TEMPLATE": batch_template,
        }
