"""The batch upload's routes: `urlpatterns` under /api/v1/, and `document_urlpatterns` under /v1/:
the two paths of Ruler's own document, the same views."""

from django.urls import path

from doors.batch.api import views

urlpatterns = [
    path("<id:site_id>/opportunity/upload/batch", views.BatchUploadApi.as_view(), name="batch-upload"),
    path("<id:site_id>/batch", views.BatchJobListApi.as_view(), name="batch-list"),
    path("<id:site_id>/batch/<str:job_id>/status", views.BatchJobStatusApi.as_view(), name="batch-status"),
    path("<id:site_id>/batch/<str:job_id>/errors.csv", views.BatchErrorFileApi.as_view(), name="batch-error-file"),
    path(
        "<id:site_id>/batch/<str:job_id>/successes.csv",
        views.BatchSuccessFileApi.as_view(),
        name="batch-success-file",
    ),
]
# Ruler's document names these two paths (`POST /v1/{siteId}/opportunity/upload/batch`, `GET
# /v1/{siteId}/batch/{jobId}/status`); the status's file URLs point under /api/v1/.
document_urlpatterns = [
    path("<id:site_id>/opportunity/upload/batch", views.BatchUploadDocumentApi.as_view(), name="ruler-batch-upload"),
    path(
        "<id:site_id>/batch/<str:job_id>/status", views.BatchJobStatusDocumentApi.as_view(), name="ruler-batch-status"
    ),
]
