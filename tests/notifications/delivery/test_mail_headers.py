"""Campaign mail looks like a professional's: its headers on every path.

Over SMTP a message is either filled from a byte prototype (rawmail.py) or,
for an unusual address, built by Django; through a Django or anymail backend
it is built by Django, or sent in one ESP batch call. Each path must give the
same From (with its display name), Reply-To (the DPO), Message-ID (on the
sending domain), Date (with the campaign's real offset), Content-Language and
a Subject that decodes without a leading space.
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import timezone

from notifications.campaigns import content as content_mod
from notifications.campaigns import services
from notifications.campaigns.tokens import token_from_seed
from notifications.delivery import render
from notifications.models import StepKind
from tests.campaign_factories import EmployeeFactory, campaign_make
from tests.fake_esp import FakePostmark
from tests.notifications.delivery.test_sending import (
    send_all,
    smtp_sink,
    tick,
    use_fake_postmark,
)

_names = itertools.count()
FROM_NAME = "Acme — Protection des données"
DPO = "Jeanne Martin, dpo-office@corp.example, 01 23 45 67 89"
SUBJECTS = {
    "fr": "La fin de l'été : désactivez l'entraînement de l'IA sur LinkedIn "
    "avant la date limite, s'il vous plaît",
    "en": "Please opt out of LinkedIn's generative AI training before the "
    "deadline, it takes two minutes",
}


def _launched(settings, *, addresses, time_zone="America/New_York"):
    settings.EMAIL_FROM_NAME = FROM_NAME
    for address, language in addresses.items():
        EmployeeFactory(email=address, language=language)
    campaign = campaign_make(
        name=f"Mail {next(_names)}",
        deadline=timezone.now() + timedelta(days=10),
        window=services.WindowSpec(enabled=False),
        from_email="dpo@corp.example",
        dpo_contact=DPO,
        time_zone=time_zone,
    )
    # The ready-made campaign holds 24 languages; these tests use two.
    for content in campaign.contents.filter(language__in=SUBJECTS):
        content.subject = SUBJECTS[content.language]
        content.save(update_fields=["subject"])
    services.campaign_launch(campaign=campaign)
    return campaign


def _assert_professional(raw: bytes, *, language: str, time_zone: str) -> None:
    msg = message_from_bytes(raw, policy=policy.default)
    sender = msg["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == (FROM_NAME, "dpo@corp.example")
    assert msg["Reply-To"].addresses[0].addr_spec == "dpo-office@corp.example"
    assert re.fullmatch(r"<[^@<>\s]+@corp\.example>", str(msg["Message-ID"]))
    offset = datetime.now(ZoneInfo(time_zone)).strftime("%z")
    assert str(msg["Date"]).endswith(" " + offset), msg["Date"]
    assert msg["Content-Language"] == language
    # The first line of the header holds text: nothing to decode as a space.
    assert re.search(rb"\r?\nSubject: \S", raw)
    assert str(msg["Subject"]) == SUBJECTS[language]


@pytest.mark.django_db(transaction=True)
def test_over_smtp_the_filled_prototype_carries_the_headers(settings):
    addresses = {"anne@example.com": "fr", "bob@example.com": "en"}
    _launched(settings, addresses=addresses)
    with smtp_sink(settings) as sink:
        send_all(tick()[1])
    assert sorted(sink.addresses()) == sorted(addresses)
    for received in sink.received:
        _assert_professional(
            received.message.as_bytes(),
            language=addresses[received.to],
            time_zone="America/New_York",
        )


@pytest.mark.django_db(transaction=True)
def test_over_smtp_a_message_built_by_django_carries_the_same_headers(settings):
    # An apostrophe is not a "plain" address: the fast path hands it to Django.
    addresses = {"o'brien@example.com": "fr"}
    _launched(settings, addresses=addresses, time_zone="UTC")
    with smtp_sink(settings) as sink:
        send_all(tick()[1])
    (received,) = sink.received
    raw = received.message.as_bytes()
    _assert_professional(raw, language="fr", time_zone="UTC")
    assert re.search(rb"\nDate: [^\r\n]* \+0000\r?\n", raw)  # not -0000


@pytest.mark.django_db(transaction=True)
def test_through_a_django_backend_the_message_carries_the_headers(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    addresses = {"anne@example.com": "fr", "bob@example.com": "en"}
    _launched(settings, addresses=addresses, time_zone="Asia/Kolkata")
    send_all(tick()[1])
    assert len(mail.outbox) == 2
    for email in mail.outbox:
        raw = email.message().as_bytes(linesep="\r\n")
        language = addresses[email.to[0]]
        _assert_professional(raw, language=language, time_zone="Asia/Kolkata")


@pytest.mark.django_db(transaction=True)
def test_an_esp_batch_carries_the_sender_reply_to_and_each_language(settings):
    addresses = {"anne@example.com": "fr", "bob@example.com": "en"}
    with FakePostmark() as fake:
        use_fake_postmark(settings, fake)
        _launched(settings, addresses=addresses)
        send_all(tick()[1])
    # One call; each message's language in its own headers.
    assert fake.calls == 1
    for message in fake.messages:
        headers = {h["Name"]: h["Value"] for h in message.get("Headers", [])}
        assert headers["Content-Language"] == addresses[message["To"]]
        sender = policy.default.header_factory("From", message["From"]).addresses[0]
        assert (sender.display_name, sender.addr_spec) == (
            FROM_NAME,
            "dpo@corp.example",
        )
        assert message["ReplyTo"] == "dpo-office@corp.example"


@pytest.mark.django_db
def test_the_django_fallback_builds_email_builds_bytes():
    campaign = campaign_make(name="Bytes", deadline=timezone.now() + timedelta(9))
    renderer = render._Renderer(
        campaign=campaign, kind=StepKind.FIRST, now=timezone.now()
    )
    content = campaign.contents.get(language="fr")
    message = renderer.render(
        content, first="Zoé", last="Ünal", token=token_from_seed("s")
    )
    out = render._Outgoing(None, "Zoé <zoe@example.com>", message)
    ours = render._email(campaign, out)
    theirs = content_mod.email_build(message, campaign=campaign, to=out.to)
    theirs.extra_headers.update(ours.extra_headers)
    boundary = re.compile(rb'boundary="([^"]+)"')

    def normalised(raw: bytes) -> bytes:
        return raw.replace(boundary.search(raw).group(1), b"B")

    assert normalised(ours.message().as_bytes()) == normalised(
        theirs.message().as_bytes()
    )


@pytest.mark.parametrize(
    ("contact", "reply_to", "expected"),
    [
        (DPO, "", "dpo-office@corp.example"),
        ("dpo@corp.example", "hr@corp.example", "hr@corp.example"),
        ("Jeanne Martin, poste 42", "", ""),
        ("a@corp.example or b@corp.example", "", ""),
    ],
)
def test_replies_go_to_the_dpo(contact, reply_to, expected):
    campaign = content_mod.Campaign(dpo_contact=contact, reply_to=reply_to)
    assert content_mod.reply_to_address(campaign) == expected


def test_the_sender_keeps_its_own_display_name(settings):
    settings.EMAIL_FROM_NAME = "Acme"
    named = content_mod.Campaign(from_email="Privacy <p@corp.example>")
    assert content_mod.from_address(named) == "Privacy <p@corp.example>"
    bare = content_mod.Campaign(from_email="p@corp.example")
    assert content_mod.from_address(bare) == "Acme <p@corp.example>"
    settings.EMAIL_FROM_NAME = ""
    assert content_mod.from_address(bare) == "p@corp.example"
