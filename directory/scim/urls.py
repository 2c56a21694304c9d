"""/scim/v2/ (config/urls.py includes it). Every path under it is answered
here, unknown ones with a SCIM 404, so that Django's HTML pages (and the
slash-appending redirect) never reach a SCIM client."""

from __future__ import annotations

from django.urls import path, re_path

from directory.scim import views

app_name = "scim"

urlpatterns = [
    path("", views.not_found_view, name="root"),
    path("Users", views.users, name="users"),
    path("Users/.search", views.search, name="search"),
    path(".search", views.search),  # all resource types: users are the only one
    path("Users/<str:pk>", views.user, name="user"),
    path("Groups", views.groups, name="groups"),
    path("Groups/<str:pk>", views.group, name="group"),
    path("ServiceProviderConfig", views.service_provider_config, name="config"),
    path("ResourceTypes", views.resource_types, name="resource_types"),
    path("ResourceTypes/<str:pk>", views.resource_types, name="resource_type"),
    path("Schemas", views.schemas, name="schemas"),
    path("Schemas/<str:pk>", views.schemas, name="schema"),
    re_path(r"^.*$", views.not_found_view),
]
