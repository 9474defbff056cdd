from importlib import import_module

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from doors.eloqua.oauth import TokenApi
from doors.eloqua.views import HealthApi, IdApi
from ops.metrics import metrics_view

# Each door registers its own routes in its `urls.py`; this module only includes them. The Eloqua
# Bulk API 2.0 is doors/eloqua/urls.py; under /api/v1/ the REST API and the batch upload
# (`urlpatterns`), and at a seed document's own paths its `document_urlpatterns`.
V1_URLS = (
    "doors.rest.opportunities.urls",
    "doors.rest.contacts.urls",
    "doors.rest.linkage.urls",
    "doors.batch.api.urls",
)
_modules = [import_module(name) for name in V1_URLS]
v1_patterns = [p for m in _modules for p in getattr(m, "urlpatterns", [])]
# Paths exactly as a seed API's own document writes them (Ruler's batch upload: /v1/...).
document_patterns = [p for m in _modules for p in getattr(m, "document_urlpatterns", [])]

urlpatterns = [
    path("id", IdApi.as_view(), name="id"),
    path("health", HealthApi.as_view(), name="health"),
    path("metrics", metrics_view, name="metrics"),
    path("auth/oauth2/token", TokenApi.as_view(), name="oauth2-token"),
    path("api/bulk/2.0/", include("doors.eloqua.urls")),
    path("api/v1/", include(v1_patterns)),
    path("v1/", include(document_patterns)),
    # Doors at their own documents' paths (doors/<name>/api/urls.py).
    path("coupon/api/v1/", include("doors.capillary.api.urls")),
    path("api/workspace/", include("doors.ruddr.api.urls")),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/", admin.site.urls),
]
