"""A throwaway OpenLDAP server for the directory pull's tests and benchmark.

Debian's ``slapd`` started by hand (no systemd, no system configuration):
an ``slapd.conf`` in a temporary directory with the standard schemas and
Microsoft's user schema (``department``, ``employeeID``,
``userAccountControl``, so an Active Directory entry and its filter can be
tried), one MDB database, loaded offline with ``slapadd`` before the server
starts (far faster than ldapadd over the network: 100,000 entries in a few
seconds), listening on a free port of 127.0.0.1.

The server's size limit applies to every account but its root DN, so the
tests bind as an ordinary service account (``SERVICE_DN``) and a search that
does not page is refused past ``size_limit`` entries, as Active Directory
refuses past 1,000.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
OPENSSL = "/usr/bin/openssl"
SCHEMAS = Path("/etc/ldap/schema")
MODULES = Path("/usr/lib/ldap")

SUFFIX = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "root-secret"
SERVICE_DN = f"cn=sync,{SUFFIX}"
SERVICE_PASSWORD = "sync-secret"
PEOPLE = f"ou=people,{SUFFIX}"


def slapd_available() -> bool:
    return all(Path(tool).exists() for tool in (SLAPD, SLAPADD, OPENSSL)) and all(
        (SCHEMAS / f"{name}.schema").exists()
        for name in ("core", "cosine", "nis", "inetorgperson", "msuser")
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ldif_entry(dn: str, attributes: dict[str, str | list[str]]) -> str:
    """One LDIF record; values that are not plain ASCII are base64 (RFC 2849)."""
    import base64

    lines = [f"dn: {dn}"]
    for name, values in attributes.items():
        for value in [values] if isinstance(values, str) else values:
            safe = (
                value.isascii()
                and value.isprintable()
                and not value.startswith((" ", ":", "<"))
            )
            if safe:
                lines.append(f"{name}: {value}")
            else:
                encoded = base64.b64encode(value.encode()).decode()
                lines.append(f"{name}:: {encoded}")
    return "\n".join(lines) + "\n\n"


def base_ldif() -> str:
    """The suffix, the service account and the people container."""
    return (
        ldif_entry(
            SUFFIX,
            {
                "objectClass": ["dcObject", "organization"],
                "dc": "example",
                "o": "Example",
            },
        )
        + ldif_entry(
            SERVICE_DN,
            {
                "objectClass": ["organizationalRole", "simpleSecurityObject"],
                "cn": "sync",
                "userPassword": SERVICE_PASSWORD,
            },
        )
        + ldif_entry(PEOPLE, {"objectClass": "organizationalUnit", "ou": "people"})
    )


class Slapd:
    """``with Slapd(size_limit=100) as server: server.load(ldif)`` — but the
    entries are loaded before the start: ``Slapd(...).load(text).start()``."""

    def __init__(
        self,
        *,
        size_limit: int = 100,
        paged_total: int | None = None,
        tls: bool = False,
    ) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="slapd-"))
        (self.dir / "data").mkdir()
        self.port = _free_port()
        self.size_limit = size_limit
        # A server that also caps paged searches (as a misconfigured one
        # does): the search ends in sizeLimitExceeded after this many.
        self.paged_total = paged_total
        # With tls: a self-signed certificate for 127.0.0.1 (its own CA,
        # ``ca_file``), StartTLS on ``url`` and TLS from the start on
        # ``ldaps_url``.
        self.tls_port = _free_port() if tls else None
        if tls:
            self._certificate()
        self.process: subprocess.Popen | None = None
        self.conf = self.dir / "slapd.conf"
        self.conf.write_text(self._config())

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.tls_port}"

    @property
    def ca_file(self) -> str:
        return str(self.dir / "cert.pem")

    def _certificate(self) -> None:
        subprocess.run(
            [
                OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                "-keyout", str(self.dir / "key.pem"), "-out", self.ca_file,
                "-days", "2", "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip

    def _config(self) -> str:
        schemas = "\n".join(
            f"include {SCHEMAS / name}.schema"
            for name in ("core", "cosine", "nis", "inetorgperson", "msuser")
        )
        limit = self.size_limit
        tls = ""
        if self.tls_port:
            tls = (
                f"TLSCertificateFile {self.ca_file}\n"
                f"TLSCertificateKeyFile {self.dir / 'key.pem'}\n"
            )
        return f"""{schemas}
{tls}pidfile {self.dir}/slapd.pid
modulepath {MODULES}
moduleload back_mdb
# A plain search stops at {limit} entries; a paged one pages through all.
sizelimit size.soft={limit} size.hard={limit} size.prtotal={self.paged_total or "unlimited"}
database mdb
maxsize 4294967296
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PASSWORD}
directory {self.dir}/data
index objectClass eq
access to attrs=userPassword by anonymous auth by * none
access to * by users read by * none
"""

    def load(self, ldif: str | Iterable[str]) -> Slapd:
        """Add entries offline (before ``start``), in one slapadd run."""
        path = self.dir / "entries.ldif"
        with path.open("w", encoding="utf-8") as out:
            if isinstance(ldif, str):
                out.write(ldif)
            else:
                out.writelines(ldif)
        subprocess.run(
            [SLAPADD, "-q", "-f", str(self.conf), "-l", str(path)],
            check=True,
            capture_output=True,
        )
        path.unlink()
        return self

    def _listen(self) -> str:
        urls = [self.url + "/"]
        if self.tls_port:
            urls.append(self.ldaps_url + "/")
        return " ".join(urls)

    def start(self) -> Slapd:
        self.process = subprocess.Popen(
            [SLAPD, "-f", str(self.conf), "-h", self._listen(), "-d", "0"],
            stdout=subprocess.DEVNULL,
            stderr=(self.dir / "slapd.log").open("wb"),
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                if self.process.poll() is not None:
                    log = (self.dir / "slapd.log").read_text(errors="replace")
                    raise RuntimeError(f"slapd did not start: {log[-2000:]}") from None
                if time.monotonic() > deadline:
                    raise TimeoutError(f"slapd not listening on {self.port}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)
