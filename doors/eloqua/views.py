"""Endpoints shared by every importable entity: discovery, health, fields, import definitions, data.

Entity views are parameterised by `entity` in each app's `api/urls.py`, so contacts, accounts and
linkage imports reuse exactly this code.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import F, Q, Sum
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from doors.eloqua.schema import EntitySchema, entity_schema
from doors.eloqua.schema.shapes import (
    CONFLICT,
    QUOTA_413,
    QUOTA_507,
    HealthSerializer,
    IdAnswerSerializer,
    bulk_list_parameters,
    idempotency_parameters,
    idempotency_responses,
)
from doors.eloqua.shapes import DEFINITION_SHAPES, FIELD, SYNC
from kernel.exceptions import NotFound, error_body
from kernel.idempotency import HashingReader, idempotent
from kernel.paging import ListSpec, paginate, paginate_list
from pipeline.catalog import entity_spec
from pipeline.models import ImportDefinition
from pipeline.services.imports import (
    CSV_TYPES,
    JSON_TYPES,
    UploadOutcome,
    import_data_load,
    import_definition_create,
    import_definition_delete,
    import_definition_update,
)
from pipeline.staging import staged_rows_clear

logger = logging.getLogger(__name__)


ID_EXAMPLE = {
    "site": {"id": 1, "name": "Demo"},
    "user": {"id": 2, "username": "api", "displayName": "API User", "firstName": "API", "lastName": "User",
             "emailAddress": "api@demo.example"},
    "urls": {
        "base": "https://bulk.example",
        "apis": {
            "soap": {
                "standard": "https://bulk.example/API/{version}/Service.svc",
                "dataTransfer": "https://bulk.example/API/{version}/DataTransferService.svc",
                "email": "https://bulk.example/API/{version}/EmailService.svc",
                "externalAction": "https://bulk.example/API/{version}/ExternalActionService.svc",
            },
            "rest": {"standard": "https://bulk.example/API/REST/{version}/",
                     "bulk": "https://bulk.example/API/Bulk/{version}/"},
        },
    },
}  # fmt: skip


def public_base(request) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") or f"{request.scheme}://{request.get_host()}"


class IdApi(APIView):
    """Eloqua's `GET /id`: who you are and where this server's APIs live."""

    permission_classes = [AllowAny]
    openapi_errors = ("400", "429")  # bad credentials are a 200 "Not authenticated.", as Eloqua answers

    @extend_schema(
        operation_id="id_retrieve",
        summary="Who you are and where this server's APIs live",
        description=(
            "Eloqua's discovery call (`https://login.eloqua.com/id`). With valid credentials: the site, the user "
            "and this server's base URLs (`{version}` is literal; `rest.*` end in `/`). With missing or bad "
            'credentials: **200** with the JSON string `"Not authenticated."`, exactly as Eloqua answers.'
        ),
        responses={
            200: OpenApiResponse(
                IdAnswerSerializer,
                examples=[
                    OpenApiExample("Authenticated", value=ID_EXAMPLE),
                    OpenApiExample("Not authenticated", value="Not authenticated."),
                ],
            )
        },
    )
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
    """200 when PostgreSQL, the broker and the cache answer; 503 naming what does not. (The API
    serves requests without the cache, throttling skipped; without the broker, syncs wait.)"""

    authentication_classes = []
    permission_classes = [AllowAny]
    openapi_errors = ()

    @extend_schema(
        operation_id="health_retrieve",
        summary="Health of the server, its database and its broker",
        responses={
            200: OpenApiResponse(
                HealthSerializer,
                description="Everything answers.",
                examples=[
                    OpenApiExample(
                        "Healthy", value={"status": "ok", "checks": {"database": "ok", "broker": "ok", "cache": "ok"}}
                    )
                ],
            ),
            503: OpenApiResponse(
                HealthSerializer,
                description="Something does not answer; `checks` names it.",
                examples=[
                    OpenApiExample(
                        "Broker down",
                        value={
                            "status": "unavailable",
                            "checks": {"database": "ok", "broker": "unavailable: ConnectionError", "cache": "ok"},
                        },
                        status_codes=["503"],
                    )
                ],
            ),
        },
    )
    def get(self, request):
        from kernel.broker import broker_ping

        checks = {}
        try:
            with connection.cursor() as cur:
                cur.execute("SELECT 1")
            checks["database"] = "ok"
        except Exception as exc:  # noqa: BLE001 - a health probe reports any failure
            checks["database"] = f"unavailable: {type(exc).__name__}"
            connection.close()
        try:
            broker_ping()
            checks["broker"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["broker"] = f"unavailable: {type(exc).__name__}"
        try:
            cache.get("health-probe")
            checks["cache"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["cache"] = f"unavailable: {type(exc).__name__}"
        healthy = all(v == "ok" for v in checks.values())
        body = {"status": "ok" if healthy else "unavailable", "checks": checks}
        return Response(body, status=status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE)


class EntityApi(APIView):
    entity: str = ""
    schema = EntitySchema()

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


# `orderBy` on /fields (reference: the fields list "supports limit/offset/orderBy/q/totalResults").
FIELD_ORDER = ("name", "internalName", "dataType", "statement")


class FieldListApi(EntityApi):
    @entity_schema(
        "fields_list",
        "List the {noun} fields",
        description=(
            "Every field a {noun} import can map, the site's custom fields included (their ids start at 1000000). "
            "`q` filters on `name`, `internalName` or `statement` with `=` and `*` wildcards, e.g. `name='Email*'`."
        ),
        parameters=[
            *bulk_list_parameters(order_by=FIELD_ORDER, eloqua=True),
            OpenApiParameter("q", OpenApiTypes.STR, description="`name=`, `internalName=` or `statement=` a value."),
        ],
        responses={200: "field_page"},
    )
    def get(self, request):
        fields = FIELD.render_many(self.spec.fields_for(request.user.site), self.spec.fields_uri)
        q = (request.query_params.get("q") or "").strip().strip('"')
        if q:
            term, _, value = q.partition("=")
            value = value.strip("'").lower()
            key = {"name": "name", "internalname": "internalName", "statement": "statement"}.get(term.strip().lower())
            if key is None:
                raise exceptions.ValidationError({"q": ["Unknown filter term."]})
            import fnmatch

            fields = [f for f in fields if fnmatch.fnmatchcase(f[key].lower(), value)]
        return Response(paginate_list(fields, request.query_params, q=True, order_keys=FIELD_ORDER, eloqua=True))


class FieldDetailApi(EntityApi):
    @entity_schema("fields_retrieve", "Get one {noun} field", responses={200: "field"})
    def get(self, request, pk: int):
        for field in self.spec.fields_for(request.user.site):
            if field.id == pk:
                return Response(FIELD.render(field, self.spec.fields_uri))
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
    return DEFINITION_SHAPES[definition.entity].render(definition)


class ImportListApi(EntityApi):
    @entity_schema(
        "imports_list",
        "List the {noun} import definitions",
        parameters=bulk_list_parameters(
            order_by=tuple(DEFINITION_LIST.fields), q_terms=tuple(DEFINITION_LIST.fields), eloqua=True
        ),
        responses={200: "definition_page"},
    )
    def get(self, request):
        qs = _with_kb_used(
            ImportDefinition.objects.for_site(request.user.site).filter(entity=self.entity, is_internal=False)
        )
        render = lambda rows: [_render(d) for d in rows]  # noqa: E731
        return Response(paginate(qs, request.query_params, render, DEFINITION_LIST, eloqua=True))

    @entity_schema(
        "imports_create",
        "Create {a_noun} import definition",
        description=(
            "Validated as Eloqua validates it: each broken rule is one entry of `failures` (400). `null`, read-only "
            "and unknown properties are ignored, so a client may send back a whole definition it read."
        ),
        request="definition_request",
        responses={201: "definition_created"},
    )
    def post(self, request):
        definition = import_definition_create(
            site=request.user.site, user=request.user, entity=self.entity, body=request.data
        )
        return Response(_render(definition), status=status.HTTP_201_CREATED)


class ImportDetailApi(EntityApi):
    @entity_schema("imports_retrieve", "Get {a_noun} import definition", responses={200: "definition"})
    def get(self, request, pk: int):
        qs = _with_kb_used(
            ImportDefinition.objects.for_site(request.user.site).filter(entity=self.entity, pk=pk, is_internal=False)
        )
        definition = qs.first()
        if definition is None:
            raise NotFound()
        return Response(_render(definition))

    @entity_schema(
        "imports_update",
        "Replace {a_noun} import definition",
        description=(
            "A full replacement of the writable properties, validated as on create. 409 while a sync of it is "
            "pending or active (its chunks read the definition as it is)."
        ),
        request="definition_request",
        responses={200: "definition", 409: CONFLICT},
    )
    def put(self, request, pk: int):
        definition = import_definition_update(definition=self.get_definition(pk), user=request.user, body=request.data)
        return Response(_render(definition))

    @entity_schema(
        "imports_destroy",
        "Delete {a_noun} import definition",
        description="Its staged rows go with it. 409 while a sync of it is pending or active.",
        responses={204: None, 409: CONFLICT},
    )
    def delete(self, request, pk: int):
        import_definition_delete(definition=self.get_definition(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ImportDataApi(EntityApi):
    """Stage rows (JSON array or CSV); 204, or 201 with the sync when the import auto-syncs."""

    parser_classes = []  # the body is streamed by the staging service, never parsed by DRF

    @entity_schema(
        "import_data_create",
        "Stage {noun} rows",
        description=(
            "A JSON array of flat objects, or CSV with a header row, keyed by the definition's `fields` keys "
            "(other keys are ignored). Rows are checked when a sync runs (bad ones become its rejects); only an "
            "unreadable body is a 400 here, naming the `row`. The whole body is staged or nothing is. Uploads add "
            "up until a sync takes them. Answers 204, or 201 with the sync it started when the definition has "
            "`isSyncTriggeredOnImport`. Bodies above BULK_MAX_UPLOAD_BYTES (32 MB) are a 413, and so is an upload "
            "past the room left in the site's staging quota; a site whose quotas are used up already gets a 507 "
            "(both `quota_exceeded`, naming the quota)."
        ),
        parameters=idempotency_parameters(201, 204),
        request="data_request",
        responses={
            204: None,
            201: "sync_created",
            413: QUOTA_413,
            507: QUOTA_507,
            **idempotency_responses("A sync of the definition is running."),
        },
    )
    def post(self, request, pk: int):
        definition = self.get_definition(pk)
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        if content_type not in CSV_TYPES + JSON_TYPES:
            raise exceptions.UnsupportedMediaType(content_type)
        raw = request._request
        declared = raw.META.get("CONTENT_LENGTH") or ""
        # Digits only (40 are past any limit); anything else is no length at all.
        length = int(declared.lstrip("0")[:40] or "0") if declared.isascii() and declared.isdigit() else None
        body = HashingReader(raw)

        def handle(idempotency):
            outcome = import_data_load(
                definition=definition,
                user=request.user,
                stream=body,
                content_type=content_type,
                content_length=length,
                before_commit=idempotency.hook(_upload_answer) if idempotency else None,
            )
            code, answer = _upload_answer(outcome)
            return Response(answer, status=code)

        return idempotent(request, handle, digest=body.digest)

    @entity_schema(
        "import_data_destroy",
        "Clear the staged {noun} rows no sync has taken",
        description="409 while a sync of the definition is pending or active (Eloqua 24B).",
        responses={204: None, 409: CONFLICT},
    )
    def delete(self, request, pk: int):
        staged_rows_clear(definition=self.get_definition(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _upload_answer(outcome: UploadOutcome) -> tuple[int, dict | None]:
    if outcome.conflict is not None:
        conflict = outcome.conflict
        return status.HTTP_409_CONFLICT, error_body(
            conflict.code, conflict.message, [f.as_dict() for f in conflict.failures]
        )
    if outcome.sync is not None:
        return status.HTTP_201_CREATED, SYNC.render(outcome.sync)
    return status.HTTP_204_NO_CONTENT, None
