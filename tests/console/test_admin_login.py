from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/"


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    # Speed only: the limits count attempts, not hashing work.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    yield
    cache.clear()


def _login(client, username: str, password: str = PASSWORD, **extra: str):
    return client.post(
        f"{LOGIN}?next=/admin/",
        {"username": username, "password": password, **extra},
        REMOTE_ADDR="203.0.113.7",
    )


def dpo_make() -> User:
    # Created here, after the hasher setting, so its hash uses that hasher.
    return User.objects.create_superuser("dpo", "dpo@example.com", PASSWORD)


def _device(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def _code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, device.step, device.t0, device.digits):06d}"


def test_it_logs_in_with_a_password_when_no_device_is_registered(client):
    dpo_make()
    assert _login(client, "dpo").status_code == 302


def test_it_locks_a_user_name_out_after_repeated_failures(client, settings):
    settings.LOGIN_MAX_FAILURES = 3
    dpo_make()
    for _ in range(3):
        assert _login(client, "dpo", "wrong").status_code == 200
    blocked = _login(client, "dpo")  # even the right password
    assert blocked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_it_limits_one_address_trying_many_names(client, settings):
    settings.LOGIN_MAX_FAILURES_PER_IP = 4
    dpo_make()
    for n in range(4):
        _login(client, f"guess{n}", "wrong")
    assert _login(client, "dpo").status_code == 429


def test_it_forgets_failures_after_a_success(client, settings):
    settings.LOGIN_MAX_FAILURES = 3
    dpo_make()
    _login(client, "dpo", "wrong")
    _login(client, "dpo", "wrong")
    assert _login(client, "dpo").status_code == 302
    client.logout()
    _login(client, "dpo", "wrong")
    _login(client, "dpo", "wrong")
    assert _login(client, "dpo").status_code == 302


def test_it_asks_a_user_with_a_device_for_the_code(client):
    device = _device(dpo_make())
    assert _login(client, "dpo").status_code == 200
    assert _login(client, "dpo", otp_token="000000").status_code == 200
    device.refresh_from_db()
    device.throttle_reset()  # a wrong code delays the next try (django-otp)
    assert _login(client, "dpo", otp_token=_code(device)).status_code == 302


def test_it_refuses_users_without_a_device_when_two_factor_is_required(
    client, settings
):
    settings.OTP_REQUIRED = True
    user = dpo_make()
    response = _login(client, "dpo")
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    # A session opened without a second factor does not reach the admin.
    client.force_login(user)
    assert client.get(reverse("admin:index")).status_code == 302


def test_it_admits_a_verified_user_when_two_factor_is_required(client, settings):
    settings.OTP_REQUIRED = True
    device = _device(dpo_make())
    assert _login(client, "dpo", otp_token=_code(device)).status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


def test_the_login_page_asks_for_a_code_only_when_two_factor_is_in_use(
    client, settings
):
    settings.OTP_REQUIRED = False
    dpo = dpo_make()
    page = client.get(LOGIN, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'name="password"' in page
    assert 'name="otp_token"' not in page and "One-time code" not in page
    _device(dpo)  # someone registered a device: everyone sees the field
    page = client.get(LOGIN, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'name="otp_token"' in page
    TOTPDevice.objects.all().delete()
    settings.OTP_REQUIRED = True
    page = client.get(LOGIN, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert 'name="otp_token"' in page and "Code à usage unique" in page
