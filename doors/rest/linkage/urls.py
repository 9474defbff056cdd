"""The REST API's routes for links, under /api/v1/ (linkage imports: doors/eloqua/urls.py)."""

from django.urls import path

from doors.rest.linkage import views

urlpatterns = [
    path("opportunities/<uuid:id>/contacts", views.OpportunityContactsApi.as_view(), name="opportunity-contacts"),
]
