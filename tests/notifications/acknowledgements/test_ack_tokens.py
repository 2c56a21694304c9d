"""Personal link tokens: random, unique, unguessable, and a bad one tells
nothing (same page, same work)."""

from __future__ import annotations

import re
import secrets
import statistics
import string
import time

import pytest
from django.core.cache import cache
from django.test import Client, override_settings

from notifications.campaigns.tokens import token_pair_new
from tests.ack_helpers import launched, link

_URL_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")


def test_it_makes_10000_unique_url_safe_tokens_of_at_least_128_bits():
    tokens = [token_pair_new()[1] for _ in range(10_000)]
    assert len(set(tokens)) == 10_000
    assert all(_URL_SAFE.match(t) for t in tokens)
    assert min(len(t) for t in tokens) * 6 >= 128  # base64: 6 bits a character


def test_it_stores_neither_the_token_nor_anything_derived_from_the_address(db):
    _campaign, [recipient] = launched()
    token = link(recipient).split("/")[2]
    values = [str(v) for v in recipient.__dict__.values()]
    assert token not in values
    assert recipient.email.split("@")[0] not in token


def _flip(token: str, index: int) -> str:
    other = "A" if token[index] != "A" else "B"
    return token[:index] + other + token[index + 1 :]


@pytest.mark.django_db
@override_settings(ACK_RATE_LIMIT_FAILURES=0)
def test_it_404s_a_token_with_one_character_changed():
    cache.clear()
    _campaign, [recipient] = launched()
    token = link(recipient).split("/")[2]
    client = Client()
    assert client.get(f"/a/{token}/").status_code == 200
    for index in (0, len(token) // 2, len(token) - 1):
        assert client.get(f"/a/{_flip(token, index)}/").status_code == 404
    assert client.get(f"/a/{token[:-1]}/").status_code == 404
    assert client.get(f"/a/{token}A/").status_code == 404


def _median_ms(client: Client, paths: list[str]) -> float:
    timings = []
    for path in paths:
        start = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 404
    return statistics.median(timings)


@pytest.mark.django_db
@override_settings(ACK_RATE_LIMIT_FAILURES=0, ACK_RATE_LIMIT=0)
def test_it_takes_as_long_to_refuse_a_near_miss_as_a_random_token():
    """The lookup is by the hash of the whole token: how many characters of
    a real token matched cannot change the time of a 404."""
    _campaign, recipients = launched(employees=20)
    tokens = [link(r).split("/")[2] for r in recipients]
    alphabet = string.ascii_letters + string.digits + "-_"
    client = Client()
    rounds = 200
    near = [f"/a/{_flip(tokens[i % 20], len(tokens[0]) - 1)}/" for i in range(rounds)]
    far = [
        "/a/" + "".join(secrets.choice(alphabet) for _ in tokens[0]) + "/"
        for _ in range(rounds)
    ]
    _median_ms(client, near[:20] + far[:20])  # warm up
    near_ms, far_ms = [], []
    for start in range(0, rounds, 50):  # interleaved, so load drifts hit both
        near_ms.append(_median_ms(client, near[start : start + 50]))
        far_ms.append(_median_ms(client, far[start : start + 50]))
    near_median, far_median = statistics.median(near_ms), statistics.median(far_ms)
    assert 0.6 < near_median / far_median < 1.6, (near_median, far_median)
