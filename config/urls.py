from importlib import import_module

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from doors.eloqua.oauth import TokenApi
from doors.eloqua.views import HealthApi, IdApi
from ops.metrics import metrics_view

# Each door registers its own routes in its `urls.py`: `urlpatterns` (REST, /api/v1/) and
# `bulk_urlpatterns` (Eloqua Bulk API 2.0), `document_urlpatterns` (a seed document's own paths).
# This module only includes them.
DOOR_URLS = (
    "doors.rest.opportunities.urls",
    "doors.rest.contacts.urls",
    "doors.rest.linkage.urls",
    "doors.rest.syncs.urls",
    "doors.batch.api.urls",
)
_modules = [import_module(name) for name in DOOR_URLS]
bulk_patterns = [p for m in _modules for p in getattr(m, "bulk_urlpatterns", [])]
v1_patterns = [p for m in _modules for p in getattr(m, "urlpatterns", [])]
# Paths exactly as a seed API's own document writes them (Ruler's batch upload: /v1/...).
document_patterns = [p for m in _modules for p in getattr(m, "document_urlpatterns", [])]

urlpatterns = [
    path("id", IdApi.as_view(), name="id"),
    path("health", HealthApi.as_view(), name="health"),
    path("metrics", metrics_view, name="metrics"),
    path("auth/oauth2/token", TokenApi.as_view(), name="oauth2-token"),
    path("api/bulk/2.0/", include(bulk_patterns)),
    path("api/v1/", include(v1_patterns)),
    path("v1/", include(document_patterns)),
    # Doors at their own documents' paths (doors/<name>/api/urls.py).
    path("coupon/api/v1/", include("doors.capillary.api.urls")),
    path("api/workspace/", include("doors.ruddr.api.urls")),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/", admin.site.urls),
]
