"""`/api/workspace/`: Ruddr's paths (config/urls.py includes them)."""

from django.urls import path

from . import views

app_name = "ruddr"

urlpatterns = [
    path("opportunities", views.OpportunityListApi.as_view(), name="opportunity-list"),
    path("opportunities/<uuid:pk>", views.OpportunityDetailApi.as_view(), name="opportunity-detail"),
]
for _path, (_list, _detail) in views.REFERENCE_VIEWS.items():
    urlpatterns += [
        path(_path, _list.as_view(), name=f"{_path}-list"),
        path(f"{_path}/<uuid:pk>", _detail.as_view(), name=f"{_path}-detail"),
    ]
