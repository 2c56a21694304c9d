from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    # The public pages first: the most requested paths, matched without
    # trying the admin's patterns.
    path("", include("notifications.urls")),
    path("admin/", admin.site.urls),
    path("anymail/", include("anymail.urls")),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
