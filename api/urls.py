"""/api/v1/ (the resources), /api/schema/ (OpenAPI 3), /api/docs/ (Swagger UI)."""

from __future__ import annotations

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from api import views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("employees", views.EmployeeViewSet, basename="employee")
router.register("imports", views.ImportViewSet, basename="import")
router.register("campaigns", views.CampaignViewSet, basename="campaign")
router.register("webhooks", views.WebhookViewSet, basename="webhook")

urlpatterns = [
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"
    ),
    # Any other path under /api/: a problem+json 404, not the site's HTML page.
    re_path(r"^", views.not_found),
]
