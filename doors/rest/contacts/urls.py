"""This app's routes: `urlpatterns` under /api/v1/, `bulk_urlpatterns` under /api/bulk/2.0/."""

from django.urls import path

from doors.eloqua.urls import entity_urls
from doors.rest.contacts import views
from entities.contacts.catalog import ACCOUNT, CONTACT

bulk_urlpatterns = entity_urls("contacts", CONTACT.entity, "contact") + entity_urls(
    "accounts", ACCOUNT.entity, "account"
)

urlpatterns = [
    path("contacts", views.ContactListApi.as_view(), name="contact-list"),
    path("contacts/<uuid:id>", views.ContactDetailApi.as_view(), name="contact-detail"),
    path("contacts/<uuid:id>/opportunities", views.ContactOpportunitiesApi.as_view(), name="contact-opportunities"),
    path("accounts", views.AccountListApi.as_view(), name="account-list"),
    path("accounts/<uuid:id>", views.AccountDetailApi.as_view(), name="account-detail"),
    path("accounts/<uuid:id>/opportunities", views.AccountOpportunitiesApi.as_view(), name="account-opportunities"),
]
