"""The REST API's routes for this entity, under /api/v1/ (its Eloqua routes: doors/eloqua/urls.py)."""

from django.urls import path

from doors.rest.contacts import views

urlpatterns = [
    path("contacts", views.ContactListApi.as_view(), name="contact-list"),
    path("contacts/<uuid:id>", views.ContactDetailApi.as_view(), name="contact-detail"),
    path("contacts/<uuid:id>/opportunities", views.ContactOpportunitiesApi.as_view(), name="contact-opportunities"),
    path("accounts", views.AccountListApi.as_view(), name="account-list"),
    path("accounts/<uuid:id>", views.AccountDetailApi.as_view(), name="account-detail"),
    path("accounts/<uuid:id>/opportunities", views.AccountOpportunitiesApi.as_view(), name="account-opportunities"),
]
