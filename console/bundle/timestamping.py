"""An RFC 3161 time-stamping client: a token over the manifest from
``EVIDENCE_TSA_URL``, so that "this bundle existed then" does not rest on our
own clock.

rfc3161-client builds the request and parses the reply (ASN.1 by a
maintained library, not by hand); the HTTP exchange is a plain POST of
``application/timestamp-query`` (RFC 3161 §3.4) with the standard library.

A TSA that is down, slow or refusing makes the build fail with a message
naming the authority and the reason, and no bundle is written: a bundle the
DPO believes timestamped must be. ``evidence_bundle --no-timestamp`` builds
one without a token on purpose; its manifest then says so and verify.py
reports "not timestamped".
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext as _
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    decode_timestamp_response,
)

QUERY_TYPE = "application/timestamp-query"
# A reply is a few kilobytes; anything far larger is not a timestamp reply.
MAX_REPLY_BYTES = 1_000_000


class TimestampError(Exception):
    """The authority gave no usable token; the message says why."""


@dataclass(frozen=True)
class Stamp:
    reply: bytes  # the DER TimeStampResp, as the authority sent it
    time: datetime
    authority: str


def _post(url: str, query: bytes, timeout: float) -> bytes:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise TimestampError(_("EVIDENCE_TSA_URL must be an http(s) address"))
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url, data=query, headers={"Content-Type": QUERY_TYPE}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.read(MAX_REPLY_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise TimestampError(
            _("the authority answered HTTP %(status)s") % {"status": exc.code}
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TimestampError(
            _("the authority did not answer (%(reason)s)") % {"reason": reason}
        ) from exc


def timestamp(data: bytes, *, url: str, timeout: float) -> Stamp:
    """A token over SHA-256(``data``), checked to be about ``data``."""
    request = (
        TimestampRequestBuilder()
        .data(data)
        .hash_algorithm(HashAlgorithm.SHA256)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    try:
        reply = _post(url, request.as_bytes(), timeout)
        if len(reply) > MAX_REPLY_BYTES:
            raise TimestampError(_("the reply is too large"))
        try:
            response = decode_timestamp_response(reply)
        except Exception as exc:  # the Rust parser's error types are not documented
            raise TimestampError(_("the reply is not an RFC 3161 reply")) from exc
        if response.status not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
            raise TimestampError(
                _("the authority refused (status %(status)s: %(text)s)")
                % {"status": response.status, "text": response.status_string}
            )
        info = response.tst_info
        if info.nonce != request.nonce:
            raise TimestampError(_("the reply is not for this request (nonce)"))
        if info.message_imprint.message != hashlib.sha256(data).digest():
            raise TimestampError(_("the token is about other data"))
    except TimestampError as exc:
        raise TimestampError(
            _("Time-stamping authority %(url)s: %(reason)s")
            % {"url": url, "reason": exc}
        ) from exc
    return Stamp(reply=reply, time=info.gen_time, authority=_authority(info))


def _authority(info) -> str:
    try:
        name = info.name
    except ValueError:
        return ""
    value = getattr(name, "value", name)
    return value.rfc4514_string() if hasattr(value, "rfc4514_string") else str(value)
