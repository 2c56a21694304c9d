"""The evidence bundle page: a button (POST) that builds, in the request for
a small campaign and by the worker with progress for a large one; the
download is permission-checked and audit-logged."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from audit.models import AuditAction, AuditEntry
from console.bundle import jobs
from console.models import EvidenceBundle
from tests.console.bundle_helpers import auditor_verify
from tests.evidence_factories import campaign_sent
from tests.factories import member_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    settings.EVIDENCE_TSA_URL = ""
    settings.EVIDENCE_SIGNING_KEY = ""
    return campaign_sent()


def _page(campaign) -> str:
    return reverse("admin:audit_evidence_bundle", args=[campaign.pk])


def _exports() -> int:
    return AuditEntry.objects.filter(action=AuditAction.EVIDENCE_EXPORT).count()


@pytest.fixture
def dpo_client(client):
    client.force_login(member_make("DPO", "dpo-person"))
    return client


def test_the_campaign_links_to_the_bundle_page(dpo_client, sent):
    change = reverse("admin:notifications_campaign_change", args=[sent.campaign.pk])
    assert _page(sent.campaign) in dpo_client.get(change).content.decode()


def test_showing_the_page_builds_nothing(dpo_client, sent):
    response = dpo_client.get(_page(sent.campaign))
    assert response.status_code == 200
    assert 'id="bundle-build"' in response.content.decode()
    assert _exports() == 0 and not EvidenceBundle.objects.exists()


def test_only_holders_of_the_evidence_permission_see_or_build(client, sent):
    client.force_login(member_make("Viewer", "viewer-person"))
    assert client.get(_page(sent.campaign)).status_code == 403
    assert client.post(_page(sent.campaign)).status_code == 403
    assert not EvidenceBundle.objects.exists() and _exports() == 0


def test_a_small_campaign_is_built_at_once_audited_and_downloadable(
    dpo_client, sent, tmp_path
):
    response = dpo_client.post(_page(sent.campaign), follow=True)
    page = response.content.decode()
    job = EvidenceBundle.objects.get()
    assert job.status == EvidenceBundle.Status.DONE and job.percent == 100
    assert "The bundle is ready." in page and job.sha256 in page
    entry = AuditEntry.objects.get(action=AuditAction.EVIDENCE_EXPORT)
    assert entry.username == "dpo-person" and entry.after["format"] == "bundle"
    download = reverse(
        "admin:audit_evidence_bundle_download", args=[sent.campaign.pk, job.pk]
    )
    assert download in page
    got = dpo_client.get(download)
    assert got.status_code == 200 and "attachment" in got["Content-Disposition"]
    out = tmp_path / "downloaded.zip"
    out.write_bytes(b"".join(got.streaming_content))
    assert auditor_verify(out, "--key", job.key_fingerprint).ok
    logged = AuditEntry.objects.filter(action=AuditAction.EXPORT).latest("seq")
    assert logged.after == {
        "format": "evidence_bundle",
        "bundle": job.pk,
        "sha256": job.sha256,
    }


def test_a_large_campaign_is_queued_with_its_progress_shown(
    dpo_client, sent, settings, django_capture_on_commit_callbacks
):
    settings.EVIDENCE_BUNDLE_SYNC_MAX_RECIPIENTS = 1
    with django_capture_on_commit_callbacks() as enqueued:
        response = dpo_client.post(_page(sent.campaign), follow=True)
    job = EvidenceBundle.objects.get()
    assert len(enqueued) == 1  # the task, sent once the request commits
    assert job.status == EvidenceBundle.Status.QUEUED and _exports() == 0
    page = response.content.decode()
    assert 'http-equiv="refresh"' in page and "disabled" in page
    # A second click while it runs starts nothing more.
    dpo_client.post(_page(sent.campaign))
    assert EvidenceBundle.objects.count() == 1
    EvidenceBundle.objects.filter(pk=job.pk).update(
        status=EvidenceBundle.Status.RUNNING, rows_done=3, rows_total=6
    )
    assert "50 %" in dpo_client.get(_page(sent.campaign)).content.decode()
    EvidenceBundle.objects.filter(pk=job.pk).update(status=EvidenceBundle.Status.QUEUED)
    from console.tasks import build_evidence_bundle

    build_evidence_bundle(job.pk)  # what the worker runs
    job.refresh_from_db()
    assert job.status == EvidenceBundle.Status.DONE and jobs.bundle_path(job).exists()
    assert (
        'http-equiv="refresh"'
        not in dpo_client.get(_page(sent.campaign)).content.decode()
    )
    build_evidence_bundle(job.pk)  # a duplicate message builds nothing more
    assert _exports() == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_builds_the_bundle(client, roles, settings):
    from config.celery import BULK_QUEUE
    from tests.workers import app_broker, celery_worker, worker_database_env

    # The session's VAR_DIR, not one of its own: with the embedded broker
    # (python3 dev.py test on SQLite) the queue is a folder under VAR_DIR,
    # and this process's Celery app keeps the one it was configured with.
    settings.EVIDENCE_TSA_URL = ""
    settings.EVIDENCE_SIGNING_KEY = ""
    settings.EVIDENCE_BUNDLE_SYNC_MAX_RECIPIENTS = 1
    sent = campaign_sent()
    client.force_login(member_make("DPO", "dpo-person"))
    env = {**worker_database_env(), "EVIDENCE_TSA_URL": "", "EVIDENCE_SIGNING_KEY": ""}
    # The bulk queue, as the Procfile's bulk worker: the route is tested too.
    with celery_worker(**app_broker(), env=env, queue=BULK_QUEUE) as worker:
        client.post(_page(sent.campaign))
        job = EvidenceBundle.objects.get()
        deadline = time.monotonic() + 60
        while job.status not in (
            EvidenceBundle.Status.DONE,
            EvidenceBundle.Status.FAILED,
        ):
            assert time.monotonic() < deadline, worker.log
            time.sleep(0.2)
            job.refresh_from_db()
    assert job.status == EvidenceBundle.Status.DONE, job.error
    assert auditor_verify(jobs.bundle_path(job), "--key", job.key_fingerprint).ok


def test_a_failed_build_says_why_and_leaves_no_file(dpo_client, sent, settings):
    from tests.tsa import closed_port_url

    settings.EVIDENCE_TSA_URL = closed_port_url()
    page = dpo_client.post(_page(sent.campaign), follow=True).content.decode()
    job = EvidenceBundle.objects.get()
    assert job.status == EvidenceBundle.Status.FAILED
    assert "did not answer" in job.error and "No bundle:" in page
    assert not jobs.bundle_path(job).exists()
    assert list(jobs.bundle_dir().iterdir()) == []
