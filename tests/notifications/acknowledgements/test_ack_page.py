"""The personal acknowledgement page: reading, acknowledging, bad links."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from notifications.acknowledgements import services as acknowledging
from notifications.acknowledgements.services import Outcome
from notifications.campaigns import services
from notifications.models import (
    Acknowledgement,
    AcknowledgementKind,
    CampaignStatus,
    Recipient,
)
from tests.ack_helpers import (
    confirmed_post,
    forget_cached_contents,
    launched,
    link,
    shared_redis_cache,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_link_state")]
WINDOW = 60  # seconds: the rate limits' fixed window


@pytest.fixture
def client():
    # Pages without a recipient (404, 429) follow the browser's language.
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def _text(response) -> str:
    return response.content.decode()


def test_it_shows_the_campaign_text_in_the_recipients_language(client):
    campaign, [recipient] = launched(language="fr")
    response = client.get(link(recipient))
    assert response.status_code == 200
    assert '<html lang="fr">' in _text(response)
    assert "LinkedIn entraîne ses modèles" in _text(response)
    assert campaign.reference in _text(response)


def test_it_switches_language_with_a_plain_link(client):
    _campaign, [recipient] = launched(language="fr")
    page = _text(client.get(link(recipient)))
    assert 'href="?lang=en"' in page  # works without JavaScript
    response = client.get(link(recipient) + "?lang=en", HTTP_ACCEPT_LANGUAGE="fr")
    assert '<html lang="en">' in _text(response)
    assert response["Content-Language"] == "en"
    assert "LinkedIn trains its generative AI models" in _text(response)
    assert "LinkedIn entraîne" not in _text(response)


def test_it_ignores_an_unknown_language(client):
    _campaign, [recipient] = launched(language="en")
    response = client.get(link(recipient) + "?lang=xx")
    assert '<html lang="en">' in _text(response)


def test_it_shows_the_deadline_and_the_days_left(client):
    _campaign, [recipient] = launched(
        language="en", deadline=timezone.now() + timedelta(days=10, hours=1)
    )
    page = _text(client.get(link(recipient)))
    assert re.search(r"\((10|11) days left\)", page)


def test_it_links_linkedins_settings_page_with_its_full_address(client):
    _campaign, [recipient] = launched(language="en")
    page = _text(client.get(link(recipient)))
    url = "https://www.linkedin.com/mypreferences/d/settings/data-for-ai-improvement"
    assert f'<a href="{url}" rel="nofollow noopener noreferrer">{url}</a>' in page


def test_it_records_a_confirmed_post(client):
    campaign, [recipient] = launched(language="en")
    data = confirmed_post(campaign, "en", answer="no_linkedin")
    response = client.post(link(recipient), data)
    assert response.status_code == 200
    assert "your acknowledgement is recorded" in _text(response)
    recipient.refresh_from_db()
    assert recipient.acknowledged_at is not None
    assert recipient.answer == "no_linkedin"
    assert recipient.content_version_seen_id == int(data["content"])
    [entry] = Acknowledgement.objects.filter(recipient=recipient)
    assert entry.kind == AcknowledgementKind.FIRST
    assert entry.client_ip is None and entry.user_agent == ""  # minimisation


@override_settings(ACK_RECORD_CLIENT_INFO=True)
def test_it_records_address_and_agent_only_when_turned_on(client):
    campaign, [recipient] = launched()
    client.post(link(recipient), confirmed_post(campaign), HTTP_USER_AGENT="Phone/1")
    entry = Acknowledgement.objects.get(recipient=recipient)
    assert entry.client_ip == "127.0.0.1"
    assert entry.user_agent == "Phone/1"


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        ("confirm", "Tick the box"),
        ("content", "out of date"),
    ],
)
def test_it_records_nothing_on_a_partial_post_and_says_why(client, drop, message):
    campaign, [recipient] = launched(language="en")
    data = confirmed_post(campaign, "en")
    del data[drop]
    response = client.post(link(recipient), data)
    assert response.status_code == 400
    assert message in _text(response)
    recipient.refresh_from_db()
    assert recipient.acknowledged_at is None
    assert not Acknowledgement.objects.exists()


def test_an_optional_question_can_be_left_blank(client):
    campaign, [recipient] = launched(language="en")
    page = _text(client.get(link(recipient)))
    assert "Your answer (optional)" in page
    assert not re.search(r'<input type="radio"[^>]* required', page)
    data = confirmed_post(campaign, "en")
    del data["answer"]
    response = client.post(link(recipient), data)
    assert response.status_code == 200
    assert "your acknowledgement is recorded" in _text(response)
    recipient.refresh_from_db()
    assert recipient.acknowledged_at is not None
    assert recipient.answer == ""


def test_a_required_question_must_be_answered(client):
    campaign, [recipient] = launched(language="en")
    type(campaign).objects.filter(pk=campaign.pk).update(answer_required=True)
    page = _text(client.get(link(recipient)))
    assert "Your answer (optional)" not in page
    assert re.search(r'<input type="radio"[^>]* required', page)
    data = confirmed_post(campaign, "en")
    del data["answer"]
    response = client.post(link(recipient), data)
    assert response.status_code == 400
    assert "Choose an answer" in _text(response)
    recipient.refresh_from_db()
    assert recipient.acknowledged_at is None
    assert not Acknowledgement.objects.exists()


def test_saving_without_choosing_keeps_the_answer_already_given(client):
    campaign, [recipient] = launched(language="en")
    client.post(link(recipient), confirmed_post(campaign, "en", answer="no_linkedin"))
    data = confirmed_post(campaign, "en")
    del data["answer"]
    assert client.post(link(recipient), data).status_code == 200
    recipient.refresh_from_db()
    assert recipient.answer == "no_linkedin"
    assert Acknowledgement.objects.filter(recipient=recipient).count() == 1


def test_it_records_nothing_on_an_empty_post(client):
    _campaign, [recipient] = launched()
    response = client.post(link(recipient), {})
    assert response.status_code == 400
    recipient.refresh_from_db()
    assert recipient.acknowledged_at is None


def test_it_refuses_an_answer_that_is_not_offered(client):
    campaign, [recipient] = launched(language="en")
    response = client.post(
        link(recipient), confirmed_post(campaign, "en", answer="whatever")
    )
    assert response.status_code == 400
    assert "Choose one of the answers shown" in _text(response)


def test_it_keeps_the_first_time_on_a_second_post(client):
    campaign, [recipient] = launched(language="en")
    data = confirmed_post(campaign, "en")
    client.post(link(recipient), data)
    recipient.refresh_from_db()
    first = recipient.acknowledged_at
    again = client.post(link(recipient), data)  # double click, back + resubmit
    assert again.status_code == 200
    assert "Already acknowledged on" in _text(again)
    recipient.refresh_from_db()
    assert recipient.acknowledged_at == first
    assert Acknowledgement.objects.count() == 1


def test_it_shows_already_acknowledged_on_a_later_visit(client):
    campaign, [recipient] = launched(language="en")
    client.post(link(recipient), confirmed_post(campaign, "en"))
    page = _text(client.get(link(recipient)))
    assert "Already acknowledged on" in page
    assert "I have unticked the option" in page  # the answer given


def test_it_lets_the_answer_change_until_the_deadline_with_history(client):
    campaign, [recipient] = launched(language="en")
    client.post(link(recipient), confirmed_post(campaign, "en"))
    recipient.refresh_from_db()
    first = recipient.acknowledged_at
    response = client.post(
        link(recipient), confirmed_post(campaign, "en", answer="stay_opted_in")
    )
    assert "Your new answer is recorded" in _text(response)
    recipient.refresh_from_db()
    assert recipient.answer == "stay_opted_in"
    assert recipient.acknowledged_at == first
    history = list(
        Acknowledgement.objects.filter(recipient=recipient).values_list(
            "kind", "answer"
        )
    )
    assert history == [
        (AcknowledgementKind.FIRST, "opted_out"),
        (AcknowledgementKind.ANSWER_CHANGED, "stay_opted_in"),
    ]


def test_it_refuses_an_answer_change_after_the_deadline():
    campaign, [recipient] = launched()
    content = campaign.contents.get(language="fr")
    acknowledging.acknowledgement_record(
        recipient=recipient, content=content, answer="opted_out"
    )
    late = campaign.deadline + timedelta(minutes=1)
    result = acknowledging.acknowledgement_record(
        recipient=recipient, content=content, answer="stay_opted_in", now=late
    )
    assert result.outcome == Outcome.CHANGE_CLOSED
    recipient.refresh_from_db()
    assert recipient.answer == "opted_out"
    assert Acknowledgement.objects.count() == 1


def test_it_records_the_version_the_person_read(client):
    campaign, [recipient] = launched(language="en")
    read = confirmed_post(campaign, "en")  # the page as served
    en = campaign.contents.get(language="en")
    services.content_save(
        campaign=campaign,
        language="en",
        fields={
            "subject": en.subject,
            "body_text": en.body_text,
            "page_text": en.page_text + "\nNew line.",
        },
    )
    client.post(link(recipient), read)
    recipient.refresh_from_db()
    assert recipient.content_version_seen_id == en.pk
    assert campaign.contents.filter(language="en").count() == 2


def test_it_accepts_an_acknowledgement_without_a_question(client):
    campaign, [recipient] = launched(language="en")
    campaign.asks_answer = False
    campaign.save()
    page = _text(client.get(link(recipient)))
    assert 'name="answer"' not in page
    data = confirmed_post(campaign, "en")
    client.post(link(recipient), data)
    recipient.refresh_from_db()
    assert recipient.acknowledged_at is not None and recipient.answer == ""


def test_it_rejects_other_methods(client):
    _campaign, [recipient] = launched()
    assert client.put(link(recipient)).status_code == 405
    assert client.delete(link(recipient)).status_code == 405


def test_it_says_the_link_is_dead_when_the_campaign_is_cancelled(client):
    campaign, [recipient] = launched(language="en")
    services.campaign_cancel(campaign=campaign)
    response = client.get(link(recipient))
    assert response.status_code == 410
    assert "was cancelled" in _text(response)
    post = client.post(link(recipient), confirmed_post(campaign, "en"))
    assert post.status_code == 410
    recipient.refresh_from_db()
    assert recipient.acknowledged_at is None


@override_settings(ACK_LINK_DAYS_AFTER_FINISH=7)
def test_it_expires_links_days_after_the_campaign_finishes(client):
    campaign, [recipient] = launched(language="en")
    end = timezone.now() - timedelta(days=6)
    campaign.status = CampaignStatus.FINISHED
    campaign.deadline = campaign.finished_at = end
    campaign.save()
    assert client.get(link(recipient)).status_code == 200
    campaign.deadline = campaign.finished_at = end - timedelta(days=2)
    campaign.save()
    response = client.get(link(recipient))
    assert response.status_code == 410
    assert "links have expired" in _text(response)


def test_it_serves_the_same_neutral_404_for_any_bad_link(client):
    _campaign, [recipient] = launched()
    real = link(recipient)
    pages = {
        _text(client.get(path))
        for path in ("/a/unknown/", "/a/" + "A" * 43 + "/", "/a/%C3%A9t%C3%A9/")
    }
    tampered = client.get(real[:-2] + ("x" if real[-2] != "x" else "y") + "/")
    assert tampered.status_code == 404
    pages.add(_text(tampered))
    assert len(pages) == 1
    assert "Link not recognised" in pages.pop()


@override_settings(ACK_RATE_LIMIT_FAILURES=3)
def test_it_rate_limits_bad_links_per_client_address(client):
    launched(language="en")
    for n in range(3):
        assert client.get(f"/a/guess{n}/").status_code == 404
    blocked = client.get("/a/guess3/")
    assert blocked.status_code == 429
    assert "try again in a minute" in _text(blocked)
    assert int(blocked["Retry-After"]) > 0
    assert client.get("/a/guess4/", REMOTE_ADDR="10.0.0.9").status_code == 404


def test_it_keeps_valid_links_working_for_an_address_that_guessed(client):
    # An office behind one NAT address: one guesser, colleagues acknowledging.
    campaign, recipients = launched(employees=3, language="en")
    for n in range(25):
        client.get(f"/a/guess{n}/")
    assert client.get("/a/guess-again/").status_code == 429  # still limited
    for recipient in recipients:
        assert client.get(link(recipient)).status_code == 200
    posted = client.post(link(recipients[0]), confirmed_post(campaign, "en"))
    assert posted.status_code == 200
    recipients[0].refresh_from_db()
    assert recipients[0].acknowledged_at is not None


@override_settings(ACK_RATE_LIMIT=30, ACK_RATE_LIMIT_FAILURES=20)
def test_refused_guesses_do_not_use_up_the_address_request_limit(client):
    _campaign, [recipient] = launched(language="en")
    for n in range(100):
        client.get(f"/a/guess{n}/")
    # 20 guesses counted as requests, the 80 refused ones not: 10 left.
    codes = [client.get(link(recipient)).status_code for _ in range(11)]
    assert codes == [200] * 10 + [429]


@override_settings(ACK_RATE_LIMIT=5)
def test_it_rate_limits_every_request_generously(client):
    _campaign, [recipient] = launched()
    codes = [client.get(link(recipient)).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]


@pytest.mark.redis
def test_it_shares_the_rate_limits_between_web_processes_through_redis(client):
    _campaign, [recipient] = launched()
    with shared_redis_cache() as (prefix, shared, other):
        with override_settings(CACHES=shared, ACK_RATE_LIMIT=3):
            assert client.get(link(recipient)).status_code == 200
            assert client.get(link(recipient)).status_code == 200
            [key] = other.keys(f"{prefix}:*ack-rl:all:*")
            assert int(other.get(key)) == 2
            assert 0 < other.ttl(key) <= 2 * WINDOW  # the count does not linger
            other.incr(key)  # a request served by another process
            assert client.get(link(recipient)).status_code == 429
        with override_settings(CACHES=shared, ACK_RATE_LIMIT_FAILURES=2):
            client.get("/a/guess/", REMOTE_ADDR="10.0.0.7")
            [bad] = other.keys(f"{prefix}:*ack-rl:bad:10.0.0.7:*")
            other.incr(bad)  # a wrong guess made on another process
            blocked = client.get("/a/guess2/", REMOTE_ADDR="10.0.0.7")
            assert blocked.status_code == 429
            valid = client.get(link(recipient), REMOTE_ADDR="10.0.0.7")
            assert valid.status_code == 200


@override_settings(ACK_CLIENT_IP_HEADER="HTTP_X_FORWARDED_FOR", ACK_RATE_LIMIT=2)
def test_it_counts_the_address_the_proxy_saw(client):
    _campaign, [recipient] = launched()
    for _ in range(2):
        client.get(link(recipient), HTTP_X_FORWARDED_FOR="1.1.1.1, 10.0.0.1")
    assert (
        client.get(
            link(recipient), HTTP_X_FORWARDED_FOR="9.9.9.9, 10.0.0.1"
        ).status_code
        == 429
    )
    assert (
        client.get(
            link(recipient), HTTP_X_FORWARDED_FOR="1.1.1.1, 10.0.0.2"
        ).status_code
        == 200
    )


def test_it_never_logs_a_token(client, caplog):
    _campaign, [recipient] = launched()
    token = link(recipient).split("/")[2]
    with caplog.at_level(logging.INFO):
        client.get(f"/a/{token}x/")  # a 404: Django logs "Not Found: <path>"
        client.post(link(recipient), {})  # a 400
    assert "Not Found" in caplog.text
    assert "/a/[token]" in caplog.text
    assert token not in caplog.text


def test_it_keeps_the_address_out_of_referers_and_caches(client):
    _campaign, [recipient] = launched()
    response = client.get(link(recipient))
    assert response["Referrer-Policy"] == "same-origin"
    assert "no-store" in response["Cache-Control"]
    assert "noindex" in response["X-Robots-Tag"]


def test_it_loads_no_third_party_resource(client):
    _campaign, [recipient] = launched()
    page = _text(client.get(link(recipient)))
    assert "<script" not in page
    for tag, url in re.findall(
        r'<(link|img|iframe|source)[^>]+(?:href|src)="([^"]+)"', page
    ):
        assert url.startswith("/"), (tag, url)
    assert "@import" not in page and "fonts.googleapis" not in page


def test_it_labels_every_field(client):
    _campaign, [recipient] = launched()
    page = _text(client.get(link(recipient)))
    ids = re.findall(r'<input type="(?:radio|checkbox)"[^>]* id="([^"]+)"', page)
    assert len(ids) == 4  # three answers and the confirmation
    for field_id in ids:
        assert f'<label for="{field_id}">' in page
    assert "<legend>" in page and 'name="viewport"' in page


def test_it_explains_a_refused_post_in_plain_words(client):
    campaign, [recipient] = launched(language="en")
    strict = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")
    response = strict.post(link(recipient), confirmed_post(campaign, "en"))
    assert response.status_code == 403
    assert "Nothing was recorded" in _text(response)
    assert not Recipient.objects.filter(acknowledged_at__isnull=False).exists()


def test_it_escapes_what_it_substitutes_into_the_page(client):
    campaign, [recipient] = launched(language="en", first_name="<b>Zoé</b>")
    en = campaign.contents.get(language="en")
    en.page_text = "Hello {{ first_name }}, see https://example.org/help"
    en.save()
    forget_cached_contents()
    page = _text(client.get(link(recipient)))
    assert "Hello &lt;b&gt;Zoé&lt;/b&gt;" in page
    assert '<a href="https://example.org/help"' in page


def test_it_shows_each_person_their_own_name_link_and_form_token(client):
    campaign, recipients = launched(employees=2, language="en")
    ann, bob = recipients
    Recipient.objects.filter(pk=ann.pk).update(first_name="Ann")
    Recipient.objects.filter(pk=bob.pk).update(first_name="<i>Bob</i>")
    en = campaign.contents.get(language="en")
    en.subject = "For {{ first_name }}"
    en.page_text = "Hello {{ first_name }}, your link: {{ ack_url }}"
    en.save()
    forget_cached_contents()
    pages = {r.pk: _text(Client().get(link(r))) for r in (ann, bob, ann)}
    assert "<title>For Ann</title>" in pages[ann.pk]
    assert "Hello Ann," in pages[ann.pk] and "Bob" not in pages[ann.pk]
    assert "<title>For &lt;i&gt;Bob&lt;/i&gt;</title>" in pages[bob.pk]
    assert "Hello &lt;i&gt;Bob&lt;/i&gt;," in pages[bob.pk]
    assert "Ann" not in pages[bob.pk]
    for r in (ann, bob):
        assert f'action="{link(r)}"' in pages[r.pk]
        assert link(r) in pages[r.pk].split("<article", 1)[1]  # {{ ack_url }}
    tokens = [
        re.search(r'name="csrfmiddlewaretoken" value="(\w+)"', page).group(1)
        for page in pages.values()
    ]
    assert len(set(tokens)) == 2


def test_it_shows_a_change_to_the_campaign_with_the_next_request(client):
    campaign, [recipient] = launched(language="en")
    assert "Questions: privacy@" not in _text(client.get(link(recipient)))
    campaign.dpo_contact = "privacy@corp.example"
    campaign.save()
    assert "Questions: privacy@corp.example" in _text(client.get(link(recipient)))
    campaign.deadline = timezone.now() + timedelta(days=3, hours=1)
    campaign.save()
    assert re.search(r"\((3|4) days left\)", _text(client.get(link(recipient))))


def test_it_shows_the_acknowledgement_date_in_the_campaigns_time_zone(client):
    campaign, [recipient] = launched(language="en")
    campaign.time_zone = "America/New_York"
    campaign.save()
    at = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    Recipient.objects.filter(pk=recipient.pk).update(
        acknowledged_at=at, answer="opted_out"
    )
    page = _text(client.get(link(recipient)))
    local = at.astimezone(ZoneInfo("America/New_York"))
    # European English, 24-hour clock (common/localdates.py): 07:00 or 08:00.
    assert f"{local.day} {local:%B} {local.year}, {local:%H}:00" in page
    assert "Already acknowledged on" in page


def test_it_refuses_a_version_of_another_campaign(client):
    campaign, [recipient] = launched(language="en")
    other, _people = launched(language="en", name="Other")
    foreign = other.contents.get(language="en", is_current=True)
    data = confirmed_post(campaign, "en", content=str(foreign.pk))
    response = client.post(link(recipient), data)
    assert response.status_code == 400
    assert "out of date" in _text(response)
    recipient.refresh_from_db()
    assert recipient.acknowledged_at is None
