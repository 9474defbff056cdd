"""Tenancy in one place: every read a view makes goes through `.for_site(site)`."""

from __future__ import annotations

from django.db import models


class SiteScopedQuerySet(models.QuerySet):
    def for_site(self, site) -> SiteScopedQuerySet:
        """Rows owned by `site`; the model's `site_path` says how to reach it (default `site`)."""
        path = getattr(self.model, "site_path", "site")
        return self.filter(**{path: site})
