"""Endpoints shared by every importable entity: discovery, health, fields, import definitions, data.

Entity views are parameterised by `entity` in each app's `api/urls.py`, so contacts, accounts and
linkage imports reuse exactly this code.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.db.models import F, Q, Sum
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from ..catalog import entity_spec
from ..definitions import render_definition
from ..exceptions import NotFound
from ..models import ImportDefinition
from ..paging import ListSpec, paginate, paginate_list
from ..services import import_definition_create, import_definition_delete, import_definition_update
from ..staging import staged_rows_clear, staged_rows_load_csv, staged_rows_load_json

logger = logging.getLogger(__name__)


def public_base(request) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") or f"{request.scheme}://{request.get_host()}"


class IdApi(APIView):
    """Eloqua's `GET /id`: who you are and where this server's APIs live."""

    permission_classes = [AllowAny]

    @extend_schema(responses={200: OpenApiResponse(description='Site, user and base URLs, or "Not authenticated."')})
    def get(self, request):
        user = None
        try:
            for authenticator in self.get_authenticators():
                found = authenticator.authenticate(request)
                if found:
                    user = found[0]
                    break
        except exceptions.AuthenticationFailed:
            user = None
        if user is None or not user.site_id:
            return Response("Not authenticated.")
        base = public_base(request)
        return Response(
            {
                "site": {"id": user.site_id, "name": user.site.name},
                "user": {
                    "id": user.pk,
                    "username": user.username,
                    "displayName": user.get_full_name() or user.username,
                    "firstName": user.first_name,
                    "lastName": user.last_name,
                    "emailAddress": user.email,
                },
                "urls": {
                    "base": base,
                    "apis": {
                        "soap": {
                            "standard": f"{base}/API/{{version}}/Service.svc",
                            "dataTransfer": f"{base}/API/{{version}}/DataTransferService.svc",
                            "email": f"{base}/API/{{version}}/EmailService.svc",
                            "externalAction": f"{base}/API/{{version}}/ExternalActionService.svc",
                        },
                        "rest": {
                            "standard": f"{base}/API/REST/{{version}}/",
                            "bulk": f"{base}/API/Bulk/{{version}}/",
                        },
                    },
                },
            }
        )

    def perform_authentication(self, request):
        pass  # done by hand above: failures answer 200 "Not authenticated.", as Eloqua does


class HealthApi(APIView):
    """200 when PostgreSQL and the broker answer; 503 naming what does not."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: dict, 503: dict})
    def get(self, request):
        import redis

        checks = {}
        try:
            with connection.cursor() as cur:
                cur.execute("SELECT 1")
            checks["database"] = "ok"
        except Exception as exc:  # noqa: BLE001 - a health probe reports any failure
            checks["database"] = f"unavailable: {type(exc).__name__}"
            connection.close()
        try:
            redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2, socket_connect_timeout=2).ping()
            checks["broker"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["broker"] = f"unavailable: {type(exc).__name__}"
        healthy = all(v == "ok" for v in checks.values())
        body = {"status": "ok" if healthy else "unavailable", "checks": checks}
        return Response(body, status=status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE)


class EntityApi(APIView):
    entity: str = ""

    @property
    def spec(self):
        return entity_spec(self.entity)

    def get_definition(self, pk: int) -> ImportDefinition:
        definition = (
            ImportDefinition.objects.for_site(self.request.user.site)
            .filter(entity=self.entity, pk=pk, is_internal=False)
            .first()
        )
        if definition is None:
            raise NotFound()
        return definition


class FieldListApi(EntityApi):
    def get(self, request):
        fields = [f.wire(self.spec.fields_uri) for f in self.spec.fields_for(request.user.site)]
        q = (request.query_params.get("q") or "").strip().strip('"')
        if q:
            term, _, value = q.partition("=")
            value = value.strip("'").lower()
            key = {"name": "name", "internalname": "internalName", "statement": "statement"}.get(term.strip().lower())
            if key is None:
                raise exceptions.ValidationError({"q": ["Unknown filter term."]})
            import fnmatch

            fields = [f for f in fields if fnmatch.fnmatchcase(f[key].lower(), value)]
        return Response(paginate_list(fields, request.query_params))


class FieldDetailApi(EntityApi):
    def get(self, request, pk: int):
        for field in self.spec.fields_for(request.user.site):
            if field.id == pk:
                return Response(field.wire(self.spec.fields_uri))
        raise NotFound()


DEFINITION_LIST = ListSpec(
    fields={
        "name": "name",
        "createdAt": "created_at",
        "updatedAt": "updated_at",
        "createdBy": "created_by",
        "updatedBy": "updated_by",
    },
    date_fields={"createdAt", "updatedAt"},
)


def _with_kb_used(qs):
    unsynced = Q(uploads__sync__isnull=True)
    return qs.annotate(kb_bytes=Sum(F("uploads__byte_count"), filter=unsynced))


def _render(definition: ImportDefinition) -> dict:
    definition.kb_used = (getattr(definition, "kb_bytes", None) or 0) // 1024
    return render_definition(definition)


class ImportListApi(EntityApi):
    def get(self, request):
        qs = _with_kb_used(
            ImportDefinition.objects.for_site(request.user.site).filter(entity=self.entity, is_internal=False)
        )
        return Response(paginate(qs, request.query_params, lambda rows: [_render(d) for d in rows], DEFINITION_LIST))

    def post(self, request):
        definition = import_definition_create(
            site=request.user.site, user=request.user, entity=self.entity, body=request.data
        )
        return Response(_render(definition), status=status.HTTP_201_CREATED)


class ImportDetailApi(EntityApi):
    def get(self, request, pk: int):
        qs = _with_kb_used(
            ImportDefinition.objects.for_site(request.user.site).filter(entity=self.entity, pk=pk, is_internal=False)
        )
        definition = qs.first()
        if definition is None:
            raise NotFound()
        return Response(_render(definition))

    def put(self, request, pk: int):
        definition = import_definition_update(definition=self.get_definition(pk), user=request.user, body=request.data)
        return Response(_render(definition))

    def delete(self, request, pk: int):
        import_definition_delete(definition=self.get_definition(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ImportDataApi(EntityApi):
    """Stage rows (JSON array or CSV); 204, or 201 with the sync when the import auto-syncs."""

    parser_classes = []  # the body is streamed by the staging service, never parsed by DRF

    def post(self, request, pk: int):
        from syncs.services import render_sync, sync_start

        definition = self.get_definition(pk)
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        raw = request._request
        declared = raw.META.get("CONTENT_LENGTH") or ""
        # Digits only (40 are past any limit); anything else is no length at all.
        length = int(declared.lstrip("0")[:40] or "0") if declared.isascii() and declared.isdigit() else None
        if content_type in ("text/csv", "application/csv", "text/plain"):
            staged_rows_load_csv(definition=definition, stream=raw, content_length=length)
        elif content_type in ("application/json", "", "text/json"):
            staged_rows_load_json(definition=definition, stream=raw, content_length=length)
        else:
            raise exceptions.UnsupportedMediaType(content_type)
        if definition.is_sync_triggered_on_import:
            sync = sync_start(definition=definition, user=request.user)
            return Response(render_sync(sync), status=status.HTTP_201_CREATED)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def delete(self, request, pk: int):
        staged_rows_clear(definition=self.get_definition(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
