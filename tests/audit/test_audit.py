from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import translation

from audit.models import AuditAction, AuditEntry, ChainHead
from audit.services import audit_record, audit_verify, records_seal
from notifications.campaigns import services
from tests.campaign_factories import campaign_make
from tests.evidence_factories import LAUNCH, campaign_sent
from tests.factories import dpo_make
from tests.services import postgres_in_use

pytestmark = pytest.mark.django_db


def test_it_chains_each_entry_to_the_previous_one():
    first = audit_record(actor="alice", action=AuditAction.EXPORT, after={"n": 1})
    second = audit_record(actor="bob", action=AuditAction.EXPORT, after={"n": 2})
    assert (first.seq, second.seq) == (1, 2)
    assert second.prev_sha256 == first.entry_sha256
    head = ChainHead.objects.get()
    assert (head.seq, head.entry_sha256) == (2, second.entry_sha256)
    assert audit_verify().ok


def test_it_names_the_first_entry_edited_in_the_database():
    for n in range(4):
        audit_record(actor="alice", action=AuditAction.EXPORT, after={"n": n})
    AuditEntry.objects.filter(seq=3).update(after={"n": 99})
    report = audit_verify()
    assert not report.ok
    assert report.broken_seq == 3
    with translation.override("en"):
        assert "entry #3" in str(report)


def test_it_detects_an_edited_clear_field_and_a_deleted_entry():
    for n in range(3):
        audit_record(actor="alice", action=AuditAction.EXPORT, after={"n": n})
    AuditEntry.objects.filter(seq=2).update(username="mallory")
    assert audit_verify().broken_seq == 2
    AuditEntry.objects.filter(seq=2).update(username="alice")
    assert audit_verify().ok
    AuditEntry.objects.filter(seq=2).delete()
    assert audit_verify().broken_seq == 3
    AuditEntry.objects.filter(seq=3).delete()
    assert not audit_verify().ok  # the head still says 3


def test_it_records_the_campaign_lifecycle_with_the_user():
    dpo = dpo_make()
    campaign = campaign_make(created_by=dpo)
    from tests.campaign_factories import EmployeeFactory

    EmployeeFactory()
    services.campaign_launch(campaign=campaign, user=dpo, now=LAUNCH)
    services.campaign_pause(campaign=campaign, user=dpo, now=LAUNCH)
    services.campaign_resume(campaign=campaign, user=dpo)
    services.campaign_cancel(campaign=campaign, user=dpo, now=LAUNCH)
    actions = list(
        AuditEntry.objects.filter(target_type="notifications.campaign")
        .order_by("seq")
        .values_list("action", "username")
    )
    assert ("campaign_create", "dpo") in actions
    assert [a for a, _u in actions if a.startswith("campaign_")][1:] == [
        "campaign_launch",
        "campaign_pause",
        "campaign_resume",
        "campaign_cancel",
    ]
    launch = AuditEntry.objects.get(action=AuditAction.CAMPAIGN_LAUNCH)
    assert launch.before == {"status": "draft"}
    assert launch.after["status"] == "scheduled"
    assert audit_verify().ok


def test_it_records_a_content_change_after_launch_with_both_hashes():
    from tests.campaign_factories import EmployeeFactory

    EmployeeFactory()
    campaign = campaign_make()
    services.campaign_launch(campaign=campaign, now=LAUNCH)
    old = campaign.contents.get(language="fr", is_current=True)
    fields = {"subject": "Nouveau sujet", "body_text": old.body_text}
    fields |= {"body_html": old.body_html, "page_text": old.page_text}
    new = services.content_save(campaign=campaign, language="fr", fields=fields)
    entry = AuditEntry.objects.filter(action=AuditAction.CONTENT_CHANGE).latest("seq")
    assert entry.before["sha256"] == old.sha256
    assert entry.after["sha256"] == new.sha256
    assert entry.after["version"] == 2


def test_it_seals_records_once_until_they_change():
    sent = campaign_sent()
    first = records_seal(campaign_id=sent.campaign.pk)
    assert first.after["counts"] == {"delivery": 3, "recipient": 3}
    entries = AuditEntry.objects.count()
    assert records_seal(campaign_id=sent.campaign.pk) is None
    assert AuditEntry.objects.count() == entries  # nothing left behind
    assert ChainHead.objects.get().seq == first.seq
    sent.deliveries[1].status = "delivered"
    sent.deliveries[1].save()
    again = records_seal(campaign_id=sent.campaign.pk)
    assert again.after["counts"] == {"delivery": 1, "recipient": 0}
    assert audit_verify().ok


def test_it_seals_a_campaign_larger_than_its_chunks(monkeypatch):
    from audit import chain, services

    monkeypatch.setattr(services, "SEAL_CHUNK", 2)
    monkeypatch.setattr(chain, "CHUNK", 2)
    sent = campaign_sent(people=5)
    seal = records_seal(campaign_id=sent.campaign.pk)
    assert seal.after["counts"] == {"delivery": 5, "recipient": 5}
    assert seal.sealed_records.count() == 10
    sent.deliveries[3].status = "delivered"
    sent.deliveries[3].save()
    again = records_seal(campaign_id=sent.campaign.pk)
    assert again.after["counts"] == {"delivery": 1, "recipient": 0}
    assert audit_verify().ok


def test_a_seal_root_is_its_sorted_lines_whatever_the_ids_lengths():
    """The root is read back from the table in text order (ids of one length
    at a time): it must be the hash of the sorted lines, as the definition
    says, when ids have 1 to 6 digits."""
    from audit import chain
    from audit.models import SealedRecord

    sent = campaign_sent()
    seal = records_seal(campaign_id=sent.campaign.pk)
    fields = ("kind", "object_id", "record_sha256")
    assert seal.after["root"] == chain.seal_root(
        seal.sealed_records.values_list(*fields)
    )
    SealedRecord.objects.bulk_create(
        SealedRecord(
            seal=seal,
            kind=kind,
            object_id=oid,
            campaign_id=sent.campaign.pk,
            record_sha256=f"{oid:064x}",
            personal_sha256="0" * 64,
        )
        for kind in ("delivery", "recipient")
        for oid in (5, 10, 99, 100, 1000, 1001, 12, 123456, 9)
    )
    items = list(seal.sealed_records.values_list(*fields))
    assert chain.seal_root_stored(seal.pk) == chain.seal_root(items)
    assert audit_verify().broken_seq == seal.seq  # rows added to a seal


def test_it_detects_a_sealed_record_removed_or_renumbered():
    sent = campaign_sent()
    seal = records_seal(campaign_id=sent.campaign.pk)
    record = seal.sealed_records.order_by("id").last()
    record.object_id += 1000
    record.save()
    assert audit_verify().broken_seq == seal.seq
    record.delete()
    assert audit_verify().broken_seq == seal.seq


def test_it_detects_a_tampered_sealed_hash():
    sent = campaign_sent()
    seal = records_seal(campaign_id=sent.campaign.pk)
    record = seal.sealed_records.first()
    record.record_sha256 = "0" * 64
    record.save()
    report = audit_verify()
    assert report.broken_seq == seal.seq


class TestAdmin:
    def test_it_lists_entries_read_only_even_for_a_superuser(self, client):
        entry = audit_record(actor="alice", action=AuditAction.EXPORT, reason="x")
        client.force_login(dpo_make())
        changelist = reverse("admin:audit_auditentry_changelist")
        assert client.get(changelist).status_code == 200
        assert client.get(changelist, {"action__exact": "export"}).status_code == 200
        change = reverse("admin:audit_auditentry_change", args=[entry.pk])
        response = client.get(change)
        assert response.status_code == 200
        assert b'name="reason"' not in response.content
        client.post(change, {"reason": "edited"})
        delete = reverse("admin:audit_auditentry_delete", args=[entry.pk])
        assert client.post(delete, {"post": "yes"}).status_code == 403
        assert client.get(reverse("admin:audit_auditentry_add")).status_code == 403
        entry.refresh_from_db()
        assert entry.reason == "x"

    def test_it_shows_the_chain_check(self, client):
        audit_record(actor="alice", action=AuditAction.EXPORT)
        client.force_login(dpo_make())
        response = client.get(reverse("admin:audit_verify"))
        assert response.status_code == 200
        assert b"1" in response.content


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_it_keeps_one_chain_under_concurrent_appends():
    assert postgres_in_use()
    errors: list[BaseException] = []

    def append(worker: int) -> None:
        try:
            for n in range(10):
                audit_record(
                    actor=f"w{worker}", action=AuditAction.EXPORT, after={"n": n}
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=append, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert AuditEntry.objects.count() == 40
    assert audit_verify().ok


@pytest.mark.django_db
def test_the_object_labels_give_times_in_local_time_like_the_date_column(settings):
    from datetime import UTC, datetime

    from notifications.models import Step, StepKind

    settings.TIME_ZONE = "Europe/Paris"
    campaign = campaign_make()
    step = Step(
        campaign=campaign,
        kind=StepKind.REMINDER,
        at=datetime(2026, 1, 15, 8, 0, tzinfo=UTC),
    )
    assert str(step).endswith("(2026-01-15 09:00 CET)")  # not 08:00 (UTC)
