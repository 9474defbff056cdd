"""Shared by the hardening tests."""

from __future__ import annotations


def define(site, entity: str, fields: dict, ident: str, **extra):
    """An import definition made through the service (the same validation as the API)."""
    from pipeline.services.imports import import_definition_create
    from tests.factories import UserFactory

    body = {"name": "import", "fields": fields, "identifierFieldName": ident, **extra}
    return import_definition_create(site=site, user=UserFactory(site=site), entity=entity, body=body)
