from __future__ import annotations

from django.urls import path

from notifications.acknowledgements import views

app_name = "ack"

# Where these pages are (config/urls.py includes them at the root): the
# middleware they do without is skipped on these paths (config/middleware.py).
PUBLIC_PATHS = ("/a/", "/verify/")

urlpatterns = [
    # <str:> takes any text up to the slash: a malformed token reaches the
    # view and gets the same 404 as an unknown one (no format check first).
    path("a/<str:token>/", views.ack, name="page"),
    path("verify/", views.verify, name="verify"),
]
