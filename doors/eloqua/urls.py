"""The Eloqua Bulk API 2.0 door's routes, under /api/bulk/2.0/: every importable entity's fields,
imports and staged data, the linkage imports, and syncs with their logs and rejects."""

from django.urls import path

from doors.eloqua import syncs, views
from entities.contacts.catalog import ACCOUNT, CONTACT
from entities.linkage.catalog import OPPORTUNITY_LINK
from entities.opportunities.catalog import OPPORTUNITY


def entity_urls(prefix: str, entity: str, name: str) -> list:
    kw = {"entity": entity}
    return [
        path(f"{prefix}/fields", views.FieldListApi.as_view(**kw), name=f"{name}-fields"),
        path(f"{prefix}/fields/<id:pk>", views.FieldDetailApi.as_view(**kw), name=f"{name}-field"),
        path(f"{prefix}/imports", views.ImportListApi.as_view(**kw), name=f"{name}-imports"),
        path(f"{prefix}/imports/<id:pk>", views.ImportDetailApi.as_view(**kw), name=f"{name}-import"),
        path(f"{prefix}/imports/<id:pk>/data", views.ImportDataApi.as_view(**kw), name=f"{name}-import-data"),
    ]


_link = {"entity": OPPORTUNITY_LINK.entity}
_link_prefix = "opportunities/contacts/imports"

urlpatterns = [
    *entity_urls("opportunities", OPPORTUNITY.entity, "opportunity"),
    *entity_urls("contacts", CONTACT.entity, "contact"),
    *entity_urls("accounts", ACCOUNT.entity, "account"),
    # Linkage imports have imports and data routes only: their statements are listed by
    # `/contacts/fields` and `/accounts/fields` (as `{{Opportunity.Contact.…}}`/`{{Opportunity.Account.…}}`).
    path(_link_prefix, views.ImportListApi.as_view(**_link), name="opportunity-link-imports"),
    path(f"{_link_prefix}/<id:pk>", views.ImportDetailApi.as_view(**_link), name="opportunity-link-import"),
    path(f"{_link_prefix}/<id:pk>/data", views.ImportDataApi.as_view(**_link), name="opportunity-link-import-data"),
    path("syncs", syncs.SyncListApi.as_view(), name="sync-list"),
    path("syncs/<id:pk>", syncs.SyncDetailApi.as_view(), name="sync-detail"),
    path("syncs/<id:pk>/cancel", syncs.SyncCancelApi.as_view(), name="sync-cancel"),
    path("syncs/<id:pk>/retry", syncs.SyncRetryApi.as_view(), name="sync-retry"),
    path("syncs/<id:pk>/logs", syncs.SyncLogsApi.as_view(), name="sync-logs"),
    path("syncs/<id:pk>/rejects", syncs.SyncRejectsApi.as_view(), name="sync-rejects"),
]
