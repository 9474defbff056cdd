"""The OpenAPI description of every operation (drf-spectacular), kept true to what the views answer.

The Bulk API views are hand-written APIViews that render Eloqua's wire shapes themselves, so their
shapes are described here by docs-only serializers (`shapes`), per entity for the shared entity
views (`entities`). `AutoSchema` (DEFAULT_SCHEMA_CLASS) adds to every operation the error answers
it can give, in our one error body, and the headers every answer carries.
"""

from doors.eloqua.schema.autoschema import AutoSchema, EntitySchema, entity_schema
from doors.eloqua.schema.shapes import (
    ErrorSerializer,
    bulk_list_parameters,
    error_response,
    idempotency_parameters,
    idempotency_responses,
    page_of,
    wire_time_field,
)

__all__ = [
    "AutoSchema",
    "EntitySchema",
    "ErrorSerializer",
    "bulk_list_parameters",
    "entity_schema",
    "error_response",
    "idempotency_parameters",
    "idempotency_responses",
    "page_of",
    "wire_time_field",
]
