from __future__ import annotations

from django.urls import path

from notifications import views

app_name = "ack"

urlpatterns = [
    # <str:> takes any text up to the slash: a malformed token reaches the
    # view and gets the same 404 as an unknown one (no format check first).
    path("a/<str:token>/", views.ack, name="page"),
    path("verify/", views.verify, name="verify"),
]
