"""`/syncs`, `/syncs/{id}`, `/syncs/{id}/logs`, `/syncs/{id}/rejects`."""

from drf_spectacular.utils import OpenApiExample, OpenApiRequest, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from doors.eloqua.codes import eloqua_logs
from doors.eloqua.schema import page_of
from doors.eloqua.schema.shapes import (
    QUOTA_507,
    WIRE_TIME_EXAMPLE,
    SyncCreateRequestSerializer,
    bulk_list_parameters,
    error_response,
    idempotency_parameters,
    idempotency_responses,
)
from doors.eloqua.shapes import REJECT, SYNC, SYNC_DETAIL, SYNC_LOG
from kernel.exceptions import NotFound
from kernel.idempotency import body_digest, idempotent
from kernel.paging import ListSpec, paginate
from kernel.replica import from_replica
from pipeline.codes import Code
from pipeline.models import Reject, Sync, SyncLog
from pipeline.services import sync_cancel, sync_create, sync_retry

SYNC_LIST = ListSpec(
    fields={
        "status": "status",
        "syncedInstanceUri": "synced_instance_uri",
        "createdAt": "created_at",
        "createdBy": "created_by",
        "syncStartedAt": "sync_started_at",
        "syncEndedAt": "sync_ended_at",
    },
    default_order=("-created_at", "-id"),
    date_fields={"createdAt", "syncStartedAt", "syncEndedAt"},
)
# A sync's logs and rejects: sorted and filtered on what is the same in every door (not the codes,
# which this door answers as Eloqua's: see doors.eloqua.codes).
LOG_LIST = ListSpec(
    fields={"createdAt": "created_at", "severity": "severity", "count": "count"},
    default_order=("id",),
    date_fields={"createdAt"},
)
REJECT_LIST = ListSpec(fields={"recordIndex": "record_index"}, default_order=("record_index", "id"))


SYNC_EXAMPLE = {
    "syncedInstanceUri": "/opportunities/imports/24",
    "syncStartedAt": WIRE_TIME_EXAMPLE,
    "syncEndedAt": WIRE_TIME_EXAMPLE,
    "status": "warning",
    "createdAt": WIRE_TIME_EXAMPLE,
    "createdBy": "API.User",
    "uri": "/syncs/10",
}
PENDING_EXAMPLE = {
    "syncedInstanceUri": "/opportunities/imports/24",
    "status": "pending",
    "createdAt": WIRE_TIME_EXAMPLE,
    "createdBy": "API.User",
    "callbackUrl": "https://client.example/synced",
    "uri": "/syncs/10",
}
LOG_EXAMPLE = {
    "syncUri": "/syncs/10",
    "count": 2,
    "severity": "information",
    "statusCode": Code.TOTAL_PROCESSED.value,
    "message": Code.TOTAL_PROCESSED.message,
    "createdAt": WIRE_TIME_EXAMPLE,
}
REJECT_EXAMPLE = {
    "fieldValues": {"OpportunityID": "3", "OpportunityName": "Acme", "Stage": "Nope", "Amount": "10"},
    "invalidFields": ["Stage"],
    "message": Code.INVALID_STAGE.message,
    "statusCode": Code.INVALID_STAGE.value,
    "recordIndex": 3,
}


def _page(item: dict) -> dict:
    return {"items": [item], "totalResults": 1, "limit": 1000, "offset": 0, "count": 1, "hasMore": False}


def _sync(request, pk: int) -> Sync:
    sync = Sync.objects.for_site(request.user.site).select_related("definition").filter(pk=pk).first()
    if sync is None:
        raise NotFound()
    return sync


class SyncListApi(APIView):
    @extend_schema(
        operation_id="syncs_list",
        summary="List syncs",
        description="Newest first unless `orderBy` says otherwise; batch upload jobs' syncs are listed too.",
        parameters=bulk_list_parameters(order_by=tuple(SYNC_LIST.fields), q_terms=tuple(SYNC_LIST.fields), eloqua=True),
        responses={
            200: OpenApiResponse(
                page_of(SYNC.serializer, "SyncPage"), examples=[OpenApiExample("One page", value=_page(SYNC_EXAMPLE))]
            )
        },
    )
    @from_replica
    def get(self, request):
        qs = Sync.objects.for_site(request.user.site)
        return Response(paginate(qs, request.query_params, SYNC.render_many, SYNC_LIST, eloqua=True))

    @extend_schema(
        operation_id="syncs_create",
        summary="Sync an import definition's staged rows",
        description=(
            "Validates the definition again (Eloqua 20D: a definition no longer valid is a 400 with `failures`), "
            "takes the rows staged so far (later uploads wait for the next sync) and queues the run. An unknown "
            "`syncedInstanceUri` is a 400 naming it; a second sync of a definition while one is pending or active "
            "is a 409. `callbackUrl` must be a public http(s) URL. A site whose rejected rows are at their quota "
            "gets a 507 (`quota_exceeded`): the quota is checked when a sync starts, never while it runs."
        ),
        request=OpenApiRequest(
            SyncCreateRequestSerializer,
            examples=[
                OpenApiExample(
                    "Sync an import",
                    value={
                        "syncedInstanceUri": "/opportunities/imports/24",
                        "callbackUrl": "https://client.example/synced",
                    },
                )
            ],
        ),
        responses={
            201: OpenApiResponse(SYNC.serializer, examples=[OpenApiExample("Queued", value=PENDING_EXAMPLE)]),
            507: QUOTA_507,
            **idempotency_responses("A sync of this definition is already pending or active."),
        },
        parameters=idempotency_parameters(201),
    )
    def post(self, request):
        def handle(idempotency):
            hook = idempotency.hook(lambda sync: (status.HTTP_201_CREATED, SYNC.render(sync))) if idempotency else None
            sync = sync_create(site=request.user.site, user=request.user, body=request.data, before_commit=hook)
            return Response(SYNC.render(sync), status=status.HTTP_201_CREATED)

        return idempotent(request, handle, digest=body_digest(request))


class SyncDetailApi(APIView):
    @extend_schema(
        operation_id="syncs_retrieve",
        summary="Get a sync",
        description=(
            "Poll it until `status` is `success`, `warning` (some rows rejected) or `error`. `syncStartedAt` "
            "appears once it runs, `syncEndedAt` once it ended; `progress` is ours (beyond Eloqua)."
        ),
        responses={
            200: OpenApiResponse(
                SYNC_DETAIL.serializer,
                examples=[
                    OpenApiExample(
                        "Ended with rejects",
                        value={
                            **SYNC_EXAMPLE,
                            "progress": {
                                "total": 3,
                                "processed": 3,
                                "rejected": 1,
                                "created": 2,
                                "updated": 0,
                                "inFlight": 0,
                            },
                        },
                    )
                ],
            )
        },
    )
    @from_replica
    def get(self, request, pk: int):
        return Response(SYNC_DETAIL.render(_sync(request, pk)))


class SyncCancelApi(APIView):
    """Beyond Eloqua: stop a pending or active sync (it ends `error`, its unprocessed rows rejected;
    this door answers them as `ELQ-00146`, see `doors.eloqua.codes`); 409 when it has already ended."""

    @extend_schema(
        operation_id="syncs_cancel",
        summary="Cancel a pending or active sync",
        description=(
            "Beyond Eloqua. The sync stops after the chunk in flight (which commits or rolls back whole): what it "
            "committed stays, every row it had not processed becomes a reject `ELQ-00146` (\"The sync failed "
            "because of a temporary error.\": Eloqua has no cancel code), and its status ends `error` (Eloqua "
            "clients know only five statuses); the REST API and the admin say who cancelled. Retry it to process those rows. No body. 409 when the sync has already ended."
        ),
        request=None,
        responses={
            200: OpenApiResponse(
                SYNC_DETAIL.serializer,
                description="Cancelled: the sync as it ended.",
                examples=[
                    OpenApiExample(
                        "Cancelled",
                        value={**SYNC_EXAMPLE, "status": "error",
                               "progress": {"total": 200000, "processed": 200000, "rejected": 149960, "created": 50040,
                                            "updated": 0, "inFlight": 0}},
                    )
                ],
            ),
            409: error_response("409", "The sync has already ended."),
        },
    )  # fmt: skip
    def post(self, request, pk: int):
        sync = sync_cancel(sync_id=_sync(request, pk).pk, by=request.user.username)
        return Response(SYNC_DETAIL.render(sync))


class SyncRetryApi(APIView):
    """Beyond Eloqua: a new sync over the rows an errored sync did not process; 201 with it."""

    @extend_schema(
        operation_id="syncs_retry",
        summary="Retry the rows an errored or cancelled sync did not process",
        description=(
            "Beyond Eloqua. A new sync of the same definition over the rows the sync rejected as not processed "
            "(the `ELQ-00146` rejects, after an error or a cancel), staged again in record order with whatever "
            "else is staged for the definition. One retry per sync. No body. 409 when the sync did not end in "
            "`error`, has no such rows, was retried already, or its definition is gone (or is a batch job's: "
            "upload its error file instead); 400 when the definition is no longer valid."
        ),
        request=None,
        responses={
            201: OpenApiResponse(
                SYNC.serializer,
                description="The new sync, queued.",
                examples=[OpenApiExample("Queued", value={**PENDING_EXAMPLE, "uri": "/syncs/11"})],
            ),
            409: error_response("409", "Nothing to retry: see `failures`."),
            507: QUOTA_507,
        },
    )
    def post(self, request, pk: int):
        retry = sync_retry(sync_id=_sync(request, pk).pk, user=request.user)
        return Response(SYNC.render(retry), status=status.HTTP_201_CREATED)


def _entity(sync: Sync) -> str | None:
    return sync.definition.entity if sync.definition_id is not None else None


class SyncLogsApi(APIView):
    @extend_schema(
        operation_id="sync_logs_list",
        summary="A sync's log entries",
        description=(
            "In the order they were written. Every `statusCode` is Eloqua's (`ELQ-` and 5 digits) with Eloqua's "
            "exact text: the server's own entries either map to the closest Eloqua code or are not listed here."
        ),
        parameters=bulk_list_parameters(order_by=tuple(LOG_LIST.fields), q_terms=tuple(LOG_LIST.fields), eloqua=True),
        responses={
            200: OpenApiResponse(
                page_of(SYNC_LOG.serializer, "SyncLogPage"),
                examples=[OpenApiExample("One page", value=_page(LOG_EXAMPLE))],
            )
        },
    )
    @from_replica
    def get(self, request, pk: int):
        sync = _sync(request, pk)
        qs = eloqua_logs(SyncLog.objects.filter(sync=sync))
        entity = _entity(sync)
        render = lambda rows: SYNC_LOG.render_many(rows, entity)  # noqa: E731
        return Response(paginate(qs, request.query_params, render, LOG_LIST, eloqua=True))


class SyncRejectsApi(APIView):
    @extend_schema(
        operation_id="sync_rejects_list",
        summary="A sync's rejected rows",
        description=(
            "By `recordIndex`: each row as uploaded, the keys at fault and why. Every `statusCode` is Eloqua's "
            "(`ELQ-` and 5 digits) with Eloqua's exact text; rows the sync did not reach (it ended in error or was "
            "cancelled) are `ELQ-00146`."
        ),
        parameters=bulk_list_parameters(
            order_by=tuple(REJECT_LIST.fields), q_terms=tuple(REJECT_LIST.fields), eloqua=True
        ),
        responses={
            200: OpenApiResponse(
                page_of(REJECT.serializer, "RejectPage"),
                examples=[OpenApiExample("One page", value=_page(REJECT_EXAMPLE))],
            )
        },
    )
    @from_replica
    def get(self, request, pk: int):
        sync = _sync(request, pk)
        qs = Reject.objects.filter(sync=sync)
        entity = _entity(sync)
        render = lambda rows: REJECT.render_many(rows, entity)  # noqa: E731
        return Response(paginate(qs, request.query_params, render, REJECT_LIST, eloqua=True))
