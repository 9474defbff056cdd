from django.urls import path

from doors.rest.syncs import views

urlpatterns: list = []
bulk_urlpatterns = [
    path("syncs", views.SyncListApi.as_view(), name="sync-list"),
    path("syncs/<id:pk>", views.SyncDetailApi.as_view(), name="sync-detail"),
    path("syncs/<id:pk>/cancel", views.SyncCancelApi.as_view(), name="sync-cancel"),
    path("syncs/<id:pk>/retry", views.SyncRetryApi.as_view(), name="sync-retry"),
    path("syncs/<id:pk>/logs", views.SyncLogsApi.as_view(), name="sync-logs"),
    path("syncs/<id:pk>/rejects", views.SyncRejectsApi.as_view(), name="sync-rejects"),
]
