from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from bulkapi.api.views import HealthApi, IdApi
from bulkapi.oauth import TokenApi
from opportunities.api import urls as opportunity_urls
from syncs.api import urls as sync_urls

bulk_patterns = opportunity_urls.bulk_urlpatterns + sync_urls.bulk_urlpatterns
v1_patterns = opportunity_urls.urlpatterns

urlpatterns = [
    path("id", IdApi.as_view(), name="id"),
    path("health", HealthApi.as_view(), name="health"),
    path("auth/oauth2/token", TokenApi.as_view(), name="oauth2-token"),
    path("api/bulk/2.0/", include(bulk_patterns)),
    path("api/v1/", include(v1_patterns)),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/", admin.site.urls),
]
