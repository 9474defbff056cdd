"""The Capillary door's routes, included under /coupon/api/v1/ by config/urls.py."""

from django.urls import path

from . import views

urlpatterns = [
    path("upload/file/<id:series_id>", views.UploadFileApi.as_view(), name="capillary-upload-file"),
    path("upload/file/<id:series_id>/jobs/<id:job_id>/errors.csv", views.ErrorFileApi.as_view(),
         name="capillary-error-file"),
    path("upload/file/<id:series_id>/jobs/<id:job_id>/successes.csv", views.SuccessFileApi.as_view(),
         name="capillary-success-file"),
]  # fmt: skip
