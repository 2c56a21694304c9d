"""A server error shows a friendly, self-contained page in the visitor's
language, not Django's bare 'Server Error (500)'."""

from __future__ import annotations

import pytest
from django.http import HttpRequest
from django.test import Client
from django.urls import path

from config.urls import urlpatterns as site_urlpatterns


def _fail(request: HttpRequest) -> None:
    raise RuntimeError("boom /a/SECRETTOKENVALUE/")


urlpatterns = [path("fail/", _fail), *site_urlpatterns]


@pytest.mark.urls("tests.config.test_server_error")
@pytest.mark.parametrize(
    ("language", "title"),
    [("en", "Something went wrong"), ("fr", "Une erreur s'est produite")],
)
def test_a_server_error_shows_the_friendly_page(db, settings, language, title):
    settings.DEBUG = False
    client = Client(
        raise_request_exception=False, headers={"accept-language": language}
    )

    response = client.get("/fail/")

    page = response.content.decode()
    assert response.status_code == 500
    assert title in page
    assert "SECRETTOKENVALUE" not in page and "boom" not in page
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")
