"""The two-factor device screens (django-otp's admin) read in French too, and
relabelling them asks for no migration in django-otp."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

pytestmark = pytest.mark.django_db


def _page(user, url: str, language: str) -> str:
    client = Client(headers={"accept-language": language})
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_the_authenticator_app_form_is_in_french(dpo):
    page = _page(dpo, reverse("admin:otp_totp_totpdevice_add"), "fr")

    for text in (
        "application d&#x27;authentification",  # the model's name
        "Clé secrète",
        "Pas de temps",
        "Durée de validité de chaque code, en secondes.",  # a help text
        "Identité",  # fieldset titles
        "Tentatives échouées",
        "Confirmé",
    ):
        assert text in page, text
    for english in ("TOTP device", "Throttling", "The time step in seconds."):
        assert english not in page, english


def test_the_device_lists_and_the_qr_code_page_are_in_french(dpo):
    device = TOTPDevice.objects.create(user=dpo, name="Téléphone de Zoé")

    listing = _page(dpo, reverse("admin:otp_totp_totpdevice_changelist"), "fr")
    config = _page(
        dpo, reverse("admin:otp_totp_totpdevice_config", args=[device.pk]), "fr"
    )
    index = _page(dpo, reverse("admin:index"), "fr")

    assert "Afficher le QR code" in listing
    assert "Dernière utilisation" in listing  # a column header
    assert "Scannez ce code" in config and "Téléphone de Zoé" in config
    assert "Applications d&#x27;authentification" in index
    assert "Listes de codes de secours" in index
    assert "TOTP devices" not in index


def test_the_backup_codes_form_is_in_french_and_english(dpo):
    device = StaticDevice.objects.create(user=dpo, name="Secours")
    device.token_set.create(token="12345678")
    url = reverse("admin:otp_static_staticdevice_change", args=[device.pk])

    french = _page(dpo, url, "fr")
    english = _page(dpo, url, "en")

    assert "Codes de secours" in french and "Enregistré le" in french
    assert "Backup codes" in english and "Registered on" in english


def test_relabelling_asks_for_no_migration():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()
