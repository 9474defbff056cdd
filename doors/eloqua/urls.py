"""URL patterns every importable entity gets (fields, imports, staged data)."""

from django.urls import path

from doors.eloqua import views


def entity_urls(prefix: str, entity: str, name: str) -> list:
    kw = {"entity": entity}
    return [
        path(f"{prefix}/fields", views.FieldListApi.as_view(**kw), name=f"{name}-fields"),
        path(f"{prefix}/fields/<id:pk>", views.FieldDetailApi.as_view(**kw), name=f"{name}-field"),
        path(f"{prefix}/imports", views.ImportListApi.as_view(**kw), name=f"{name}-imports"),
        path(f"{prefix}/imports/<id:pk>", views.ImportDetailApi.as_view(**kw), name=f"{name}-import"),
        path(f"{prefix}/imports/<id:pk>/data", views.ImportDataApi.as_view(**kw), name=f"{name}-import-data"),
    ]
