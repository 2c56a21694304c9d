"""A real HTTP receiver of webhooks for the tests and the benchmark.

``Receiver`` listens on 127.0.0.1 in a thread. Each request is recorded
(headers and body); what it answers comes from a script of responses
(``(status, headers, delay)``), then 204. Its "logic" (``handled``) sees
each webhook-id once, as a receiver de-duplicating by that id would.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Request:
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    script: deque = field(default_factory=deque)
    requests: list[Request] = field(default_factory=list)
    handled: dict[str, bytes] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hook"

    def answer(
        self, status: int, headers: dict[str, str] | None = None, delay: float = 0.0
    ) -> None:
        self.script.append((status, headers or {}, delay))

    def __enter__(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    receiver.requests.append(Request(headers, body, time.monotonic()))
                    status, extra, delay = (
                        receiver.script.popleft() if receiver.script else (204, {}, 0.0)
                    )
                if delay:
                    time.sleep(delay)
                if 200 <= status < 300:
                    with receiver.lock:
                        receiver.handled.setdefault(headers.get("webhook-id", ""), body)
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()

    def wait(self, count: int, timeout: float = 10.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if len(self.requests) >= count:
                return True
            time.sleep(0.02)
        return len(self.requests) >= count
