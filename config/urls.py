from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from notifications.acknowledgements import views as ack_views

urlpatterns = [
    # The public pages first: the most requested paths, matched without
    # trying the admin's patterns.
    path("", include("notifications.acknowledgements.urls")),
    # Every other path under a/ (extra segments, an encoded slash, an empty
    # token) gets the unknown token's page and counts as a failure. Tried
    # only once the link's own pattern has failed, so it costs a real link
    # nothing. One segment without its final slash is left out: the common
    # middleware redirects it to the slashed path (a link whose last
    # character was lost), whatever the token.
    re_path(r"^a/(?![^/]+\Z)", ack_views.bad_link),
    path("admin/", admin.site.urls),
    path("scim/v2/", include("directory.scim.urls")),  # Entra ID / Okta provisioning
    path("sso/", include("console.sso_urls")),  # sign-in through OIDC_ISSUER
    path("anymail/", include("anymail.urls")),
    path("api/", include("api.urls")),  # REST API, its schema and docs
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
