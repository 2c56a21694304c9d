"""The SMTP fast path sends Django's bytes (notifications/delivery/rawmail.py).

Each person's message is filled into a prototype built once per content
version; whenever it is filled, the bytes must be exactly those Django's
EmailMultiAlternatives would have produced for the same values (but for the
Date, Message-ID and MIME boundary, which differ between any two messages).
"""

from __future__ import annotations

import itertools
import re
import smtplib
import string
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from django.conf import settings
from django.core.mail.message import sanitize_address
from django.utils import timezone
from hypothesis import event, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from notifications.campaigns import content as content_mod
from notifications.campaigns.tokens import token_from_seed
from notifications.delivery import rawmail, render
from notifications.models import Delivery, DeliveryStatus, StepKind
from tests.campaign_factories import campaign_make
from tests.fake_esp import SmtpSink
from tests.notifications.delivery.test_sending import (
    launched,
    send_all,
    smtp_sink,
    tick,
)

_BOUNDARY = re.compile(rb'boundary="([^"]+)"')
_names = itertools.count()

names = st.one_of(
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
        max_size=12,
    ),
    st.text(alphabet=string.ascii_letters + " -'&<>\"", max_size=20),
    st.text(alphabet="é=", min_size=400, max_size=700),  # long lines
    st.sampled_from(["Zoé", "O'Brien & <Fils>", "A\u2028B", "x" * 990]),
)
addresses = st.one_of(
    st.from_regex(rawmail._PLAIN_ADDRESS, fullmatch=True),
    st.emails(),
    st.sampled_from(
        ["zoé@example.com", "a@bücher.de", "Zoé <zoe@example.com>", "a..b@x.com"]
    ),
)


def _normalised(raw: bytes) -> bytes:
    raw = re.sub(rb"\r\nDate: [^\r\n]*", b"\r\nDate: D", raw)
    raw = re.sub(rb"\r\nMessage-ID: [^\r\n]*", b"\r\nMessage-ID: M", raw)
    found = _BOUNDARY.search(raw)
    return raw.replace(found.group(1), b"BOUNDARY") if found else raw


def _djangos(campaign, message, to: str) -> bytes:
    email = content_mod.email_build(message, campaign=campaign, to=to)
    # As sending does: our own Message-ID, known before sending.
    email.extra_headers["Message-ID"] = "<1@example.com>"
    return email.message().as_bytes(linesep="\r\n")


def _fast(campaign, content, *, first, last, to, kind=StepKind.REMINDER):
    renderer = render._Renderer(campaign=campaign, kind=kind, now=timezone.now())
    message, key, values = renderer.render_keyed(
        content, first=first, last=last, token=token_from_seed("seed")
    )
    out = render._Outgoing(None, to, message, renderer, key, values)
    return message, renderer.raw(out)


@pytest.mark.django_db
@hsettings(max_examples=80, deadline=None)
@given(first=names, last=names, to=addresses, language=st.sampled_from(["fr", "en"]))
@example(first="Zoé", last="Ünal", to="zoe.unal@example.com", language="en")
@example(first="Anne", last="", to="anne@example.com", language="fr")
def test_a_filled_message_is_byte_for_byte_djangos(first, last, to, language):
    campaign = campaign_make(
        name=f"Raw {next(_names)}", deadline=timezone.now() + timedelta(days=9)
    )
    content = campaign.contents.get(language=language)
    message, raw = _fast(campaign, content, first=first, last=last, to=to)
    event("filled" if raw is not None else "through Django")
    if raw is not None:
        sender, data, message_id = raw
        assert _normalised(data) == _normalised(_djangos(campaign, message, to))
        # The envelope Django's SMTP backend would have used.
        assert sender == smtplib.quoteaddr(
            sanitize_address(
                campaign.from_email or settings.DEFAULT_FROM_EMAIL, "utf-8"
            )
        )
        assert sanitize_address(to, "utf-8") == to
        assert message_from_bytes(data)["Message-ID"] == message_id


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["fr", "en"])
def test_plain_names_and_addresses_take_the_fast_path(language):
    campaign = campaign_make(name="Raw", deadline=timezone.now() + timedelta(days=9))
    content = campaign.contents.get(language=language)
    _message, raw = _fast(
        campaign, content, first="Anne", last="Martin", to="anne.martin@example.com"
    )
    assert raw is not None
    parsed = message_from_bytes(raw[1])
    text, html = (p.get_payload(decode=True).decode() for p in parsed.get_payload())
    assert "Anne" in text and "Anne" in html
    assert f"/a/{token_from_seed('seed')}/" in text


@pytest.mark.django_db
def test_a_personal_subject_or_an_unusual_address_goes_through_django():
    campaign = campaign_make(name="Raw", deadline=timezone.now() + timedelta(days=9))
    content = campaign.contents.get(language="fr")
    assert (
        _fast(campaign, content, first="A", last="B", to="Zoé <z@example.com>")[1]
        is None
    )
    content.subject = "{{ first_name }}, une action avant le {{ deadline }}"
    assert _fast(campaign, content, first="A", last="B", to="a@example.com")[1] is None


def test_two_messages_never_share_a_boundary_or_message_id():
    email = content_mod.EmailMultiAlternatives(
        subject="Sujet",
        body=f"Bonjour {render._MARKS['first_name']}",
        from_email="dpo@example.com",
        to=[rawmail.TO_MARK],
    )
    email.attach_alternative(
        f"<p>{rawmail.html_mark(render._MARKS['first_name'])}</p>", "text/html"
    )
    proto = rawmail.Prototype.build(email, render._MARKS)
    one = proto.fill({"first_name": "Anne"}, "anne@example.com")
    two = proto.fill({"first_name": "Anne"}, "anne@example.com")
    assert one[1] != two[1]
    assert _BOUNDARY.search(one[0]).group(1) != _BOUNDARY.search(two[0]).group(1)


@pytest.mark.django_db(transaction=True)
def test_over_smtp_each_person_receives_their_own_name_and_link(settings):
    campaign = launched(4, language="fr")
    with smtp_sink(settings) as sink:
        send_all(tick()[1])
    by_address = {r.to: r.message for r in sink.received}
    rows = campaign.recipients.select_related("employee")
    assert len(by_address) == rows.count() == 4
    for recipient in rows:
        text = by_address[recipient.email].get_payload()[0].get_payload(decode=True)
        text = text.decode()
        assert f"Bonjour {recipient.first_name}" in text
        assert f"/a/{token_from_seed(recipient.token_seed)}/" in text
    assert {d.status for d in Delivery.objects.all()} == {DeliveryStatus.SENT}


def test_sendmail_refusals_raise_what_smtplib_raises_and_keep_the_connection():
    with SmtpSink(reject={"gone@example.com"}, defer={"later@example.com"}) as sink:
        smtp = smtplib.SMTP("127.0.0.1", sink.port)
        data = b"Subject: hi\r\n\r\nHello.\r\n"
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            rawmail.sendmail(smtp, "<dpo@example.com>", "gone@example.com", data)
        assert refused.value.recipients["gone@example.com"][0] == 550
        with pytest.raises(smtplib.SMTPRecipientsRefused) as deferred:
            rawmail.sendmail(smtp, "<dpo@example.com>", "later@example.com", data)
        assert deferred.value.recipients["later@example.com"][0] == 451
        rawmail.sendmail(smtp, "<dpo@example.com>", "anne@example.com", data)
        smtp.quit()
    assert sink.addresses() == ["anne@example.com"]


@pytest.mark.django_db
def test_a_filled_message_is_dated_in_the_campaign_zone_on_the_senders_domain():
    campaign = campaign_make(
        name="Raw zone",
        deadline=timezone.now() + timedelta(days=9),
        time_zone="Asia/Kolkata",
        from_email="dpo@corp.example",
    )
    content = campaign.contents.get(language="en")
    _message, raw = _fast(
        campaign, content, first="Anne", last="Martin", to="anne@example.com"
    )
    parsed = message_from_bytes(raw[1], policy=policy.default)
    assert str(parsed["Date"]).endswith(" +0530")  # India has no summer time
    assert raw[2].endswith("@corp.example>") and parsed["Message-ID"] == raw[2]
    assert parsed["Content-Language"] == "en"
