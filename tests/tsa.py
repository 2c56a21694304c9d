"""A real RFC 3161 time-stamping authority on the loopback, for the tests.

A throwaway CA and a TSA certificate (extended key usage timeStamping,
critical, as RFC 3161 requires) are made with ``openssl``; each
``application/timestamp-query`` POSTed to the small HTTP server is answered
by ``openssl ts -reply``, the same reply a real authority gives. Nothing is
mocked: the application's client and the auditor's verify.py talk to it as
they would to a qualified eIDAS TSA.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"

_CONFIG = """
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = {dir}
serial = $dir/tsaserial
crypto_device = builtin
signer_cert = $dir/tsa.crt
certs = $dir/tsa.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
other_policies = 1.3.6.1.4.1.99999.2
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""

_TSA_EXTENSIONS = """
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def openssl_available() -> bool:
    return shutil.which("openssl") is not None


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _authority_make(directory: Path, name: str) -> None:
    """A root CA and a TSA certificate it signed, in ``directory``."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    _run(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt",
        "-subj", f"/CN={name} Root CA/O=Test", "-days", "3",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    _run(
        "req", "-new", *ec, "-keyout", "tsa.key", "-out", "tsa.csr",
        "-subj", f"/CN={name}/O=Test",
        cwd=directory,
    )  # fmt: skip
    (directory / "tsa.ext").write_text(_TSA_EXTENSIONS)
    _run(
        "x509", "-req", "-in", "tsa.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "tsa.crt", "-days", "3",
        "-extfile", "tsa.ext",
        cwd=directory,
    )  # fmt: skip
    (directory / "tsaserial").write_text("01\n")
    (directory / "tsa.cnf").write_text(_CONFIG.format(dir=directory))


class LocalTsa:
    """``with LocalTsa() as tsa:`` → ``tsa.url``, ``tsa.ca_path``,
    ``tsa.requests`` (how many stamps it gave)."""

    def __init__(self, name: str = "Test TSA") -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="tsa-")
        self.directory = Path(self._tmp.name)
        self.name = name
        self.requests = 0
        self._lock = threading.Lock()
        _authority_make(self.directory, name)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/tsr"

    @property
    def ca_path(self) -> Path:
        return self.directory / "ca.crt"

    def reply(self, query: bytes) -> bytes:
        """What ``openssl ts -reply`` answers to one query."""
        with self._lock, tempfile.TemporaryDirectory(dir=self.directory) as work:
            query_path = Path(work) / "query.tsq"
            reply_path = Path(work) / "reply.tsr"
            query_path.write_bytes(query)
            _run(
                "ts", "-reply", "-config", "tsa.cnf",
                "-queryfile", str(query_path), "-out", str(reply_path),
                cwd=self.directory,
            )  # fmt: skip
            self.requests += 1
            return reply_path.read_bytes()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.headers.get("Content-Type") != QUERY_TYPE:
                    self.send_error(415, "expected application/timestamp-query")
                    return
                try:
                    answer = tsa.reply(body)
                except subprocess.CalledProcessError:
                    self.send_error(400, "not a timestamp query")
                    return
                self.send_response(200)
                self.send_header("Content-Type", REPLY_TYPE)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet tests

        return Handler

    def __enter__(self) -> LocalTsa:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._tmp.cleanup()


def closed_port_url() -> str:
    """An address on the loopback where nothing listens: a TSA that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/tsr"
