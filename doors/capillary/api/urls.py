"""The Capillary door's routes, included under /coupon/api/v1/ by config/urls.py. Ids are matched as
text and read by the views (`views.path_id`), so that a malformed one is a 404 in the door's envelope."""

from django.urls import path

from . import views

urlpatterns = [
    path("upload/file/<str:series_id>", views.UploadFileApi.as_view(), name="capillary-upload-file"),
    path("upload/file/<str:series_id>/jobs/<str:job_id>/errors.csv", views.ErrorFileApi.as_view(),
         name="capillary-error-file"),
    path("upload/file/<str:series_id>/jobs/<str:job_id>/successes.csv", views.SuccessFileApi.as_view(),
         name="capillary-success-file"),
]  # fmt: skip
