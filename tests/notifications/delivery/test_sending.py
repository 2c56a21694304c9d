"""The sending pipeline without a broker: dispatch, claims, retries, re-checks.

Mail goes to a real aiosmtpd server on loopback (tests/fake_esp.py) or to
Django's locmem outbox; the ESP is a fake Postmark API on loopback.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import smtplib
from datetime import timedelta
from email import message_from_bytes

import pytest
from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from hypothesis import example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from audit.models import AuditEntry
from common.texts import shown
from employees.models import EmailStatus, Employee
from events.outbox import subscribed_types
from notifications.acknowledgements import services as acknowledgements
from notifications.campaigns import content as content_mod
from notifications.campaigns import services
from notifications.campaigns.tokens import token_from_seed
from notifications.delivery import claim, dispatch, policy, render, send
from notifications.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Recipient,
    Step,
    StepKind,
    StepStatus,
)
from tests.campaign_factories import EmployeeFactory, campaign_make
from tests.fake_esp import FakePostmark, SmtpSink

_names = itertools.count()


def launched(n: int = 3, *, deadline_days: int = 10, **employee):
    """A running-to-be campaign whose first message is due now (window off)."""
    EmployeeFactory.create_batch(n, **employee)
    campaign = campaign_make(
        name=f"Campaign {next(_names)}",
        deadline=timezone.now() + timedelta(days=deadline_days),
        window=services.WindowSpec(enabled=False),
    )
    services.campaign_launch(campaign=campaign)
    return campaign


def step_of(campaign, kind):
    return campaign.steps.get(kind=kind)


def make_due(step, when=None):
    Step.objects.filter(pk=step.pk).update(
        due_at=when or timezone.now(), status=StepStatus.PENDING
    )


class Collect:
    def __init__(self):
        self.chunks: list[list[int]] = []

    def __call__(self, ids):
        self.chunks.append(list(ids))


def tick(now=None):
    collect = Collect()
    report = dispatch.dispatch_tick(enqueue=collect, now=now)
    return report, collect.chunks


@contextlib.contextmanager
def smtp_sink(settings, **options):
    """Django's SMTP backend sending to an aiosmtpd server on loopback."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    with SmtpSink(**options) as sink:
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
        yield sink


def send_all(chunks):
    for chunk in chunks:
        send.deliveries_send(chunk)


# --- Dispatch ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_it_creates_one_delivery_per_recipient_and_enqueues_chunks(settings):
    settings.SEND_CHUNK_SIZE = 2
    campaign = launched(5)
    report, chunks = tick()
    assert report.steps_dispatched == 1 and report.deliveries_created == 5
    assert sorted(len(c) for c in chunks) == [1, 2, 2]
    first = step_of(campaign, StepKind.FIRST)
    first.refresh_from_db()
    campaign.refresh_from_db()
    assert first.status == StepStatus.DONE
    assert campaign.status == CampaignStatus.RUNNING


@pytest.mark.django_db(transaction=True)
def test_it_dispatches_a_step_once_however_often_it_ticks():
    campaign = launched(4)
    _, chunks = tick()
    again, more = tick()
    assert again.steps_dispatched == 0 and more == []  # leased: not enqueued twice
    assert Delivery.objects.filter(step__campaign=campaign).count() == 4
    send_all(chunks + chunks)  # a duplicate task delivery
    assert len(mail.outbox) == 4
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        campaign.recipients.values_list("email", flat=True)
    )


@pytest.mark.django_db(transaction=True)
def test_it_re_enqueues_rows_whose_task_was_lost(settings):
    settings.SEND_ENQUEUE_LEASE = 60
    launched(3)
    _, chunks = tick()
    assert chunks  # ... and the broker loses them
    _, none = tick(now=timezone.now() + timedelta(seconds=30))
    _, again = tick(now=timezone.now() + timedelta(seconds=61))
    assert none == [] and sum(map(len, again)) == 3


@pytest.mark.django_db(transaction=True)
def test_it_enrols_employees_added_after_launch_at_the_next_step():
    campaign = launched(2)
    send_all(tick()[1])
    newcomer = EmployeeFactory()
    make_due(step_of(campaign, StepKind.REMINDER))
    send_all(tick()[1])
    assert newcomer.email in [m.to[0] for m in mail.outbox[2:]]


@pytest.mark.django_db(transaction=True)
def test_it_does_not_query_the_database_per_recipient_to_dispatch():
    def dispatch_queries(n):
        Delivery.objects.all().delete()
        Recipient.objects.all().delete()
        launched(n)
        with CaptureQueriesContext(connection) as ctx:
            tick()
        return len(ctx)

    # Bulk inserts: SQLite caps the parameters of one INSERT, so 400 rows
    # take a few more statements than 10; never one per recipient.
    assert dispatch_queries(400) - dispatch_queries(10) <= 400 / 40


@pytest.mark.django_db(transaction=True)
def test_it_reports_a_step_that_could_not_go_before_the_deadline_as_missed():
    campaign = launched(2, deadline_days=1)
    after = campaign.deadline + timedelta(minutes=1)
    _, chunks = tick(now=after)
    first = step_of(campaign, StepKind.FIRST)
    first.refresh_from_db()
    assert first.status == StepStatus.MISSED and chunks == []
    assert not Delivery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_it_waits_for_the_send_window():
    campaign = launched(1)
    campaign.window_enabled = True
    campaign.window_weekdays = []  # never open
    campaign.save()
    campaign.window_weekdays = [(timezone.now() + timedelta(days=2)).weekday()]
    campaign.save()
    report, chunks = tick()
    # The step's rows exist (it goes in waves, per person's zone) but none
    # goes to a worker before the person's window opens.
    assert report.deliveries_created == 1 and chunks == []
    row = Delivery.objects.get(step=step_of(campaign, StepKind.FIRST))
    assert row.status == DeliveryStatus.QUEUED
    assert row.next_attempt_at > timezone.now() + timedelta(days=1)
    assert tick(now=row.next_attempt_at)[1] != []


@pytest.mark.django_db(transaction=True)
def test_it_sends_one_of_several_reminders_due_at_once():
    campaign = launched(2)
    send_all(tick()[1])
    make_due(step_of(campaign, StepKind.REMINDER), timezone.now() - timedelta(hours=1))
    make_due(step_of(campaign, StepKind.LAST_CALL))
    report, chunks = tick()
    send_all(chunks)
    assert report.steps_superseded == 1
    assert [m.subject.split(":")[0] for m in mail.outbox[2:]] == [
        "Last call"
    ] * 2 or all("Dernier" in m.subject for m in mail.outbox[2:])
    assert len(mail.outbox) == 4


# --- Re-checks at send time -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_it_sends_reminders_only_to_the_unacknowledged():
    campaign = launched(3)
    send_all(tick()[1])
    done = campaign.recipients.first()
    Recipient.objects.filter(pk=done.pk).update(acknowledged_at=timezone.now())
    make_due(step_of(campaign, StepKind.REMINDER))
    send_all(tick()[1])
    reminded = [m.to[0] for m in mail.outbox[3:]]
    assert len(reminded) == 2 and done.email not in reminded


@pytest.mark.django_db(transaction=True)
def test_it_skips_a_reminder_acknowledged_after_dispatch_but_before_sending():
    campaign = launched(2)
    send_all(tick()[1])
    make_due(step_of(campaign, StepKind.REMINDER))
    _, chunks = tick()
    late = campaign.recipients.first()
    Recipient.objects.filter(pk=late.pk).update(acknowledged_at=timezone.now())
    send_all(chunks)
    row = Delivery.objects.get(recipient=late, step__kind=StepKind.REMINDER)
    assert row.status == DeliveryStatus.SKIPPED and "Acknowledged" in row.last_error
    assert late.email not in [m.to[0] for m in mail.outbox[2:]]


@pytest.mark.django_db(transaction=True)
def test_it_sends_nothing_after_the_deadline():
    campaign = launched(2)
    _, chunks = tick()
    Campaign.objects.filter(pk=campaign.pk).update(
        deadline=timezone.now() - timedelta(seconds=1)
    )
    send_all(chunks)
    assert mail.outbox == []
    assert set(Delivery.objects.values_list("status", flat=True)) == {
        DeliveryStatus.SKIPPED
    }
    assert "deadline" in Delivery.objects.first().last_error


@pytest.mark.django_db(transaction=True)
def test_a_deadline_passing_during_a_send_skips_the_rest_in_the_readers_words(
    settings,
):
    """The SMTP server takes a second a message and the deadline passes
    after the first: the rows left are skipped. The worker runs in French
    (LANGUAGE_CODE); the reason is stored in English and shown in French or
    English to whoever reads it (it was stored in French, and an English
    admin read French)."""
    campaign = launched(3)
    _, chunks = tick()
    deadline = timezone.now() + timedelta(seconds=1.5)
    Campaign.objects.filter(pk=campaign.pk).update(deadline=deadline)
    with smtp_sink(settings, pause=1.0) as sink, translation.override("fr"):
        send_all(chunks)
    assert 1 <= len(sink.received) < 3
    skipped = Delivery.objects.filter(status=DeliveryStatus.SKIPPED)
    assert len(skipped) == 3 - len(sink.received)
    for row in skipped:
        assert row.last_error == "Missed: the deadline passed before it could be sent."
        with translation.override("fr"):
            assert shown(row.last_error).startswith("Manqué")
        with translation.override("en"):
            assert shown(row.last_error).startswith("Missed")


@pytest.mark.django_db(transaction=True)
def test_it_skips_bounced_addresses_and_deactivated_employees():
    campaign = launched(3)
    bounced, gone, ok = campaign.recipients.order_by("id")
    bounced.employee.email_status = EmailStatus.BOUNCED
    bounced.employee.save()
    _, chunks = tick()
    gone.employee.is_active = False
    gone.employee.save()
    send_all(chunks)
    assert [m.to[0] for m in mail.outbox] == [ok.email]
    statuses = dict(Delivery.objects.values_list("recipient_id", "status"))
    assert statuses[bounced.pk] == statuses[gone.pk] == DeliveryStatus.SKIPPED


@pytest.mark.django_db(transaction=True)
def test_it_sends_each_manager_one_digest_of_their_unacknowledged_reports():
    boss = EmployeeFactory(email="boss@example.com", first_name="Ada")
    team = EmployeeFactory.create_batch(3, manager=boss)
    campaign = launched(0)
    services.campaign_enrol_new(campaign)
    send_all(tick()[1])
    Recipient.objects.filter(employee=team[0]).update(acknowledged_at=timezone.now())
    make_due(step_of(campaign, StepKind.MANAGER_DIGEST))
    _, chunks = tick()
    Recipient.objects.filter(employee=team[1]).update(acknowledged_at=timezone.now())
    send_all(chunks)
    digests = [m for m in mail.outbox if m.to == ["boss@example.com"]]
    assert len(digests) == 2  # the first message (boss is staff too) + the digest
    digest = digests[-1].body
    assert team[2].email in digest
    assert team[0].email not in digest and team[1].email not in digest


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("backend", ["locmem", "smtp"])
def test_it_sends_a_chunk_with_one_statement_per_message_and_a_few_per_chunk(
    settings, backend
):
    """A field the sender reads but does not load would cost a query per
    message (a lazy load); recording each message is the only one allowed."""

    def send_queries(n, kind):
        Delivery.objects.all().delete()
        Recipient.objects.all().delete()
        Employee.objects.all().delete()
        boss = EmployeeFactory()
        EmployeeFactory.create_batch(n, manager=boss)
        campaign = launched(0)
        services.campaign_enrol_new(campaign)
        if kind != StepKind.FIRST:
            send_all(tick()[1])
            make_due(step_of(campaign, kind))
        _, chunks = tick()
        with CaptureQueriesContext(connection) as ctx:
            send_all(chunks)
        sent = Delivery.objects.filter(step__kind=kind, sent_at__isnull=False)
        assert sent.count() == (n + 1 if kind == StepKind.FIRST else 1)
        return len(ctx), sent.count()

    with smtp_sink(settings) if backend == "smtp" else contextlib.nullcontext():
        few, few_sent = send_queries(4, StepKind.FIRST)
        many, many_sent = send_queries(24, StepKind.FIRST)
        assert many - few == many_sent - few_sent
        # A digest: one message for the manager, whatever the team's size.
        assert (
            send_queries(24, StepKind.MANAGER_DIGEST)[0]
            == send_queries(4, StepKind.MANAGER_DIGEST)[0]
        )


# --- Claims --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_it_lets_only_one_worker_claim_a_row():
    launched(3)
    _, chunks = tick()
    ids = chunks[0]
    assert claim.deliveries_claim(ids, now=timezone.now()) == sorted(ids)
    assert claim.deliveries_claim(ids, now=timezone.now()) == []
    assert send.deliveries_send(ids).claimed == 0
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_it_leaves_a_paused_campaigns_rows_queued():
    campaign = launched(2)
    _, chunks = tick()
    services.campaign_pause(campaign=campaign)
    send_all(chunks)
    assert mail.outbox == []
    assert set(Delivery.objects.values_list("status", flat=True)) == {
        DeliveryStatus.QUEUED
    }


@pytest.mark.django_db(transaction=True)
def test_it_requeues_rows_stuck_in_sending_and_fails_them_at_the_limit(settings):
    settings.SEND_CLAIM_TIMEOUT = 60
    settings.SEND_MAX_ATTEMPTS = 2
    launched(1)
    _, chunks = tick()
    claim.deliveries_claim(chunks[0], now=timezone.now())  # then the worker dies
    later = timezone.now() + timedelta(seconds=61)
    assert tick(now=later)[0].released == 1
    row = Delivery.objects.get()
    assert row.status == DeliveryStatus.QUEUED and row.attempts == 1
    claim.deliveries_claim([row.pk], now=later)  # dies again
    tick(now=later + timedelta(seconds=61))
    row.refresh_from_db()
    assert row.status == DeliveryStatus.FAILED and mail.outbox == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["one by one", "ESP batches"])
def test_a_chunk_held_back_by_the_rate_limit_keeps_its_claim(
    settings, monkeypatch, tmp_path, path
):
    """EMAIL_RATE_LIMIT is shared by all workers, so a chunk may take longer
    than the claim timeout: the sweeper must not take its unsent rows for a
    dead worker's (another worker would send them again)."""
    import time

    from notifications.delivery import ratelimit

    settings.SEND_CLAIM_TIMEOUT = 0.3
    settings.EMAIL_RATE_LIMIT = 8  # a burst of 8, then one every 0.125 s
    settings.VAR_DIR = tmp_path  # the file bucket, fresh
    ratelimit._bucket.cache_clear()
    real_sleep = time.sleep
    swept = []

    def sleep_then_sweep(seconds: float) -> None:  # a tick elsewhere meanwhile
        real_sleep(seconds)
        swept.append(dispatch.deliveries_sweep(now=timezone.now()))

    with contextlib.ExitStack() as stack:
        if path == "ESP batches":
            fake = stack.enter_context(FakePostmark())
            use_fake_postmark(settings, fake, batch_size=16)
        launched(16)
        _, [chunk] = tick()
        monkeypatch.setattr(ratelimit.time, "sleep", sleep_then_sweep)
        started = time.monotonic()
        report = send.deliveries_send(chunk)
        took = time.monotonic() - started
        monkeypatch.undo()
        sent = len(fake.addresses()) if path == "ESP batches" else len(mail.outbox)

    assert took > 0.8  # held back past the claim timeout, twice over
    assert report.sent == 16 and sent == 16
    assert swept and sum(swept) == 0
    assert not Delivery.objects.filter(
        status__in=(DeliveryStatus.QUEUED, DeliveryStatus.SENDING)
    ).exists()
    assert tick()[0].enqueued == 0  # nothing left to send a second time


# --- Errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ConnectionRefusedError(111, "refused"), True),
        (TimeoutError("timed out"), True),
        (smtplib.SMTPServerDisconnected("gone"), True),
        (smtplib.SMTPDataError(451, b"try later"), True),
        (smtplib.SMTPDataError(554, b"rejected"), False),
        (smtplib.SMTPRecipientsRefused({"a@x.org": (550, b"no such user")}), False),
        (smtplib.SMTPRecipientsRefused({"a@x.org": (452, b"mailbox full")}), True),
        (AnymailAPIError("slow down", status_code=429), True),
        (AnymailAPIError("oops", status_code=503), True),
        (AnymailAPIError("no connection"), True),
        (AnymailAPIError("bad request", status_code=422), False),
        (AnymailRecipientsRefused("all rejected"), False),
        (ValueError("a bug"), False),
    ],
)
def test_it_tells_transient_errors_from_permanent_ones(error, transient):
    assert policy.error_is_transient(error) is transient


def test_it_backs_off_exponentially_with_jitter(settings):
    settings.SEND_RETRY_BASE = 10
    settings.SEND_RETRY_MAX = 60
    delays = [policy.retry_delay(n) for n in (1, 2, 3, 4, 5)]
    assert 5 <= delays[0] <= 10 and 10 <= delays[1] <= 20 and 20 <= delays[2] <= 40
    assert all(30 <= d <= 60 for d in delays[3:])
    assert len({policy.retry_delay(3) for _ in range(20)}) > 1


@pytest.mark.django_db(transaction=True)
def test_it_retries_later_when_the_smtp_server_is_down_then_delivers(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_TIMEOUT = "127.0.0.1", 2
    settings.SEND_RETRY_BASE = 30
    sink = SmtpSink()
    settings.EMAIL_PORT = sink.port
    campaign = launched(3)
    send_all(tick()[1])  # nobody listening
    rows = Delivery.objects.all()
    assert {r.status for r in rows} == {DeliveryStatus.QUEUED}
    assert all(r.next_attempt_at > timezone.now() for r in rows)
    assert all("Connection" in r.last_error and r.attempts == 1 for r in rows)
    assert tick()[1] == []  # backing off
    with sink:
        send_all(tick(now=timezone.now() + timedelta(seconds=31))[1])
    assert sorted(sink.addresses()) == sorted(
        campaign.recipients.values_list("email", flat=True)
    )
    assert {r.status for r in rows.all()} == {DeliveryStatus.SENT}


@pytest.mark.django_db(transaction=True)
def test_it_records_a_refused_recipient_and_carries_on(settings):
    campaign = launched(3)
    bad = campaign.recipients.order_by("id")[1]
    with smtp_sink(settings, reject={bad.email}) as sink:
        send_all(tick()[1])
    assert len(sink.addresses()) == 2 and bad.email not in sink.addresses()
    row = Delivery.objects.get(recipient=bad)
    assert row.status == DeliveryStatus.REJECTED and "550" in row.last_error
    assert Delivery.objects.filter(status=DeliveryStatus.SENT).count() == 2


@pytest.mark.django_db(transaction=True)
def test_it_records_what_was_sent_with_which_content_version(settings):
    campaign = launched(1, language="en")
    with smtp_sink(settings) as sink:
        send_all(tick()[1])
    row = Delivery.objects.get()
    received = sink.received[0]
    content = campaign.contents.get(language="en", is_current=True)
    assert row.status == DeliveryStatus.SENT and row.sent_at and row.attempts == 1
    assert row.content == content and row.content_sha256 == content.sha256
    assert row.esp_message_id == received.header("Message-ID")
    assert row.language == "en" and row.to_email == received.to


# --- ESP batch sending ---------------------------------------------------------------


def use_fake_postmark(settings, fake, *, batch_size=500):
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {
        "POSTMARK_SERVER_TOKEN": fake.token,
        "POSTMARK_API_URL": fake.url,
    }
    settings.EMAIL_BATCH_TEMPLATE = "notify-passthrough"
    settings.EMAIL_BATCH_SIZE = batch_size


@pytest.mark.django_db(transaction=True)
def test_it_sends_a_chunk_in_one_esp_call_within_its_limit(settings):
    with FakePostmark() as fake:
        use_fake_postmark(settings, fake, batch_size=4)
        campaign = launched(10)
        send_all(tick()[1])
    assert fake.calls == 3  # 4 + 4 + 2
    assert sorted(fake.addresses()) == sorted(
        campaign.recipients.values_list("email", flat=True)
    )
    model = fake.messages[0]["TemplateModel"]
    assert "/a/" in model["body_text"] and model["subject"]
    assert fake.messages[0]["TemplateAlias"] == "notify-passthrough"
    rows = list(Delivery.objects.all())
    assert all(r.status == DeliveryStatus.SENT for r in rows)
    # Each row has the id the ESP gave its own message (tracking needs it).
    assert {r.to_email: r.esp_message_id for r in rows} == fake.message_ids


@pytest.mark.django_db(transaction=True)
def test_an_esp_call_in_two_languages_records_each_ones_own_version(settings):
    """The evidence of each message (content version, its hash, language,
    the ESP's id) is its own, though one call carried both languages."""
    with FakePostmark() as fake:
        use_fake_postmark(settings, fake)
        EmployeeFactory.create_batch(3, language="en")
        campaign = launched(3, language="fr")
        send_all(tick()[1])
    assert fake.calls == 1
    current = {c.language: c for c in campaign.contents.filter(is_current=True)}
    rows = list(Delivery.objects.select_related("recipient"))
    assert len(rows) == 6 and {r.language for r in rows} == {"en", "fr"}
    for row in rows:
        content = current[row.recipient.language]
        assert row.status == DeliveryStatus.SENT and row.sent_at
        assert row.language == row.recipient.language
        assert row.content == content and row.content_sha256 == content.sha256
        assert row.esp_message_id == fake.message_ids[row.to_email]


@pytest.mark.django_db(transaction=True)
def test_it_retries_an_esp_429_and_records_its_rejections(settings):
    settings.SEND_RETRY_BASE = 1
    with FakePostmark(fail_first=1) as fake:
        use_fake_postmark(settings, fake)
        campaign = launched(3)
        bad = campaign.recipients.order_by("id")[0]
        fake.reject = {bad.email}
        send_all(tick()[1])
        assert set(Delivery.objects.values_list("status", flat=True)) == {
            DeliveryStatus.QUEUED
        }
        assert "HTTP 429" in Delivery.objects.first().last_error
        send_all(tick(now=timezone.now() + timedelta(seconds=2))[1])
    assert len(fake.addresses()) == 2
    assert Delivery.objects.get(recipient=bad).status == DeliveryStatus.REJECTED
    assert Delivery.objects.filter(status=DeliveryStatus.SENT).count() == 2


# --- Rendering -----------------------------------------------------------------------


names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12
)


@pytest.mark.django_db
@hsettings(max_examples=25, deadline=None)
@given(first=names, last=names)
def test_it_renders_exactly_what_content_message_render_renders(first, last):
    campaign = campaign_make(name="Render", deadline=timezone.now() + timedelta(days=9))
    content = campaign.contents.get(language="fr")
    now = timezone.now()
    token = token_from_seed("seed")
    renderer = render._Renderer(campaign=campaign, kind=StepKind.REMINDER, now=now)
    renderer.render(content, first="Warm", last="Up", token=token)
    fast = renderer.render(content, first=first, last=last, token=token)
    exact = content_mod.message_render(
        campaign=campaign,
        content=content,
        kind=StepKind.REMINDER,
        first_name=first,
        last_name=last,
        token=token,
        now=now,
    )
    assert (fast.subject, fast.body_text, fast.body_html) == (
        exact.subject,
        exact.body_text,
        exact.body_html,
    )
    campaign.delete()


subjects = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
    max_size=150,
)
bodies = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
        st.just("\n"),
    ),
    max_size=300,
)
_BOUNDARY = re.compile(rb'boundary="([^"]+)"')


def _mime(cls: type, subject: str, body: str) -> bytes:
    email = cls(
        subject=subject,
        body=body,
        from_email="Délégué <dpo@example.com>",
        to=["Zoé Ä <zoe@example.com>"],
        reply_to=["dpo@example.com"],
        headers={"Date": "Mon, 20 Oct 2025 10:00:00 +0200", "Message-ID": "<1@x>"},
    )
    email.attach_alternative(f"<p>{body}</p>", "text/html")
    return email.message().as_bytes(linesep="\r\n")


def _without_boundary(raw: bytes) -> bytes:
    return raw.replace(_BOUNDARY.search(raw).group(1), b"BOUNDARY")


@hsettings(max_examples=60, deadline=None)
@given(subject=subjects, body=bodies)
@example(subject="Dernier rappel : " + "é" * 120, body="ligne " + "é" * 1200)
def test_it_builds_the_bytes_djangos_email_message_builds(subject, body):
    ours = _mime(render._CampaignEmail, subject, body)
    django = _mime(EmailMultiAlternatives, subject, body)
    assert _without_boundary(ours) == _without_boundary(django)


def test_it_draws_another_boundary_when_the_text_contains_it(monkeypatch):
    taken = "=" * 15 + "1" * 19 + "=="
    monkeypatch.setattr(render, "_boundary", lambda: taken)
    raw = _mime(render._CampaignEmail, "Sujet", f"Avant\n--{taken}\nAprès")
    boundary = _BOUNDARY.search(raw).group(1).decode()
    assert boundary != taken and f"--{boundary}" not in f"Avant\n--{taken}\nAprès"
    assert [p.get_content_type() for p in message_from_bytes(raw).walk()] == [
        "multipart/alternative",
        "text/plain",
        "text/html",
    ]


# --- Command -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_it_sends_due_messages_synchronously_from_the_command(capsys):
    launched(2)
    call_command("send_due")
    out = capsys.readouterr().out
    assert "deliveries_created: 2" in out and "sent: 2" in out
    assert len(mail.outbox) == 2


# --- Finishing ---------------------------------------------------------------------


def _link_state(campaign, now):
    campaign.refresh_from_db()
    return acknowledgements.link_state(campaign, now=now)


def _open_steps(campaign):
    return campaign.steps.filter(status__in=(StepStatus.PENDING, StepStatus.DUE))


@pytest.mark.django_db(transaction=True)
def test_it_finishes_a_campaign_paused_past_its_deadline_and_its_links_expire(
    settings,
):
    settings.ACK_LINK_DAYS_AFTER_FINISH = 30
    campaign = launched(2)
    _, chunks = tick()  # the first message is queued, then the DPO pauses
    services.campaign_pause(campaign=campaign)
    audited = AuditEntry.objects.count()
    before, _ = tick(now=campaign.deadline - timedelta(minutes=1))
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED  # may still be resumed
    assert before.campaigns_finished == 0
    after = campaign.deadline + timedelta(minutes=1)
    report, more = tick(now=after)
    send_all(chunks + more)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.FINISHED
    assert campaign.finished_at == campaign.deadline  # it ended there
    assert report.campaigns_finished == 1
    assert report.steps_missed == 3  # the reminder, the digest, the last call
    assert not _open_steps(campaign).exists()
    assert set(
        campaign.steps.exclude(kind=StepKind.FIRST).values_list("status_reason")
    ) == {("The deadline passed before it could go out.",)}
    assert mail.outbox == []  # nothing is ever sent after the deadline
    assert set(Delivery.objects.values_list("status", flat=True)) == {
        DeliveryStatus.SKIPPED
    }
    assert AuditEntry.objects.count() == audited  # as any finish: no entry
    assert _link_state(campaign, after) == "open"
    assert _link_state(campaign, campaign.deadline + timedelta(days=31)) == "expired"


@pytest.mark.django_db(transaction=True)
def test_it_finishes_a_campaign_noticed_long_after_its_deadline(settings):
    settings.ACK_LINK_DAYS_AFTER_FINISH = 30
    campaign = launched(1)
    services.campaign_pause(campaign=campaign)
    later = campaign.deadline + timedelta(days=200)
    assert _link_state(campaign, later) == "expired"  # even before the tick
    report, _ = tick(now=later)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.FINISHED
    assert report.steps_missed == 4 and report.campaigns_finished == 1
    # Its links and its retention count from the deadline, not from the day
    # the dispatcher noticed: they do not come back to life.
    assert campaign.finished_at == campaign.deadline
    assert _link_state(campaign, later) == "expired"


@pytest.mark.django_db(transaction=True)
def test_it_finishes_a_campaign_resumed_after_its_deadline():
    campaign = launched(2)
    services.campaign_pause(campaign=campaign)
    after = campaign.deadline + timedelta(minutes=1)
    assert services.campaign_resume(campaign=campaign)  # resuming checks no time
    assert campaign.status == CampaignStatus.SCHEDULED  # nothing went out
    report, chunks = tick(now=after)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.FINISHED
    assert report.campaigns_finished == 1 and chunks == []
    assert step_of(campaign, StepKind.FIRST).status == StepStatus.MISSED
    assert not _open_steps(campaign).exists()  # the others missed or superseded
    again, _ = tick(now=after + timedelta(days=1))
    assert again.campaigns_finished == 0 and mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_it_finishes_a_scheduled_campaign_whose_every_step_was_missed():
    campaign = launched(2, deadline_days=1)
    report, _ = tick(now=campaign.deadline + timedelta(minutes=1))
    campaign.refresh_from_db()
    assert report.steps_missed >= 1
    assert step_of(campaign, StepKind.FIRST).status == StepStatus.MISSED
    assert not _open_steps(campaign).exists()
    assert campaign.status == CampaignStatus.FINISHED
    assert campaign.finished_at == campaign.deadline


@pytest.mark.django_db(transaction=True)
def test_it_keeps_a_campaign_open_until_its_last_rows_have_an_outcome(settings):
    settings.SEND_CLAIM_TIMEOUT = 60
    campaign = launched(2)
    _, chunks = tick()
    # A worker takes the rows just before the deadline, then dies.
    assert claim.deliveries_claim(chunks[0], now=campaign.deadline)
    services.campaign_pause(campaign=campaign)
    after = campaign.deadline + timedelta(minutes=1)
    report, _ = tick(now=after)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED  # its rows are "sending"
    assert report.campaigns_finished == 0
    report, _ = tick(now=after + timedelta(minutes=2))  # swept, then expired
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.FINISHED
    assert set(Delivery.objects.values_list("status", flat=True)) == {
        DeliveryStatus.SKIPPED
    }


@pytest.mark.django_db(transaction=True)
def test_it_finishes_stuck_campaigns_in_as_many_queries_however_many():
    def finish_queries(campaigns, people):
        Campaign.objects.all().delete()
        Employee.objects.all().delete()
        made = [launched(people) for _ in range(campaigns)]
        for campaign in made:
            services.campaign_pause(campaign=campaign)
        after = max(c.deadline for c in made) + timedelta(minutes=1)
        # Who listens to webhooks is read at most every 2 s (events.outbox):
        # read it now, so both counts leave that read out however slow the
        # machine is between them.
        subscribed_types(fresh=True)
        with CaptureQueriesContext(connection) as ctx:
            report, _ = tick(now=after)
        assert report.campaigns_finished == campaigns
        return len(ctx)

    assert finish_queries(1, 2) == finish_queries(4, 30)
