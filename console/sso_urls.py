from __future__ import annotations

from django.urls import path

from console import sso_views

urlpatterns = [
    path("login/", sso_views.SsoStart.as_view(), name="sso_login"),
    path("callback/", sso_views.callback, name="sso_callback"),
]
