from django.urls import path

from . import views

urlpatterns: list = []
bulk_urlpatterns = [
    path("syncs", views.SyncListApi.as_view(), name="sync-list"),
    path("syncs/<int:pk>", views.SyncDetailApi.as_view(), name="sync-detail"),
    path("syncs/<int:pk>/cancel", views.SyncCancelApi.as_view(), name="sync-cancel"),
    path("syncs/<int:pk>/retry", views.SyncRetryApi.as_view(), name="sync-retry"),
    path("syncs/<int:pk>/logs", views.SyncLogsApi.as_view(), name="sync-logs"),
    path("syncs/<int:pk>/rejects", views.SyncRejectsApi.as_view(), name="sync-rejects"),
]
