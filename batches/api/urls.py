"""This app's routes: `urlpatterns` under /api/v1/, `bulk_urlpatterns` under /api/bulk/2.0/."""

urlpatterns: list = []
bulk_urlpatterns: list = []
