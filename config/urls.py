from importlib import import_module

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from bulkapi.api.views import HealthApi, IdApi
from bulkapi.oauth import TokenApi
from ops.metrics import metrics_view

# Each app registers its own routes in `<app>/api/urls.py`: `urlpatterns` (REST, /api/v1/) and
# `bulk_urlpatterns` (Eloqua Bulk API 2.0). This module only includes them.
API_APPS = ("opportunities", "contacts", "linkage", "syncs", "batches")
_modules = [import_module(f"{app}.api.urls") for app in API_APPS]
bulk_patterns = [p for m in _modules for p in getattr(m, "bulk_urlpatterns", [])]
v1_patterns = [p for m in _modules for p in getattr(m, "urlpatterns", [])]

urlpatterns = [
    path("id", IdApi.as_view(), name="id"),
    path("health", HealthApi.as_view(), name="health"),
    path("metrics", metrics_view, name="metrics"),
    path("auth/oauth2/token", TokenApi.as_view(), name="oauth2-token"),
    path("api/bulk/2.0/", include(bulk_patterns)),
    path("api/v1/", include(v1_patterns)),
    path("api/workspace/", include("doors.ruddr.api.urls")),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/", admin.site.urls),
]
