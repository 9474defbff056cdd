"""This app's routes: `urlpatterns` under /api/v1/, `bulk_urlpatterns` under /api/bulk/2.0/.

Linkage imports have imports and data routes only: their statements are listed by
`/contacts/fields` and `/accounts/fields` (as `{{Opportunity.Contact.…}}`/`{{Opportunity.Account.…}}`).
"""

from django.urls import path

from doors.eloqua import views as bulk
from doors.rest.linkage import views
from entities.linkage.catalog import OPPORTUNITY_LINK

_kw = {"entity": OPPORTUNITY_LINK.entity}
_prefix = "opportunities/contacts/imports"

bulk_urlpatterns = [
    path(_prefix, bulk.ImportListApi.as_view(**_kw), name="opportunity-link-imports"),
    path(f"{_prefix}/<id:pk>", bulk.ImportDetailApi.as_view(**_kw), name="opportunity-link-import"),
    path(f"{_prefix}/<id:pk>/data", bulk.ImportDataApi.as_view(**_kw), name="opportunity-link-import-data"),
]

urlpatterns = [
    path("opportunities/<uuid:id>/contacts", views.OpportunityContactsApi.as_view(), name="opportunity-contacts"),
]
