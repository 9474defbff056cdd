"""`/syncs`, `/syncs/{id}`, `/syncs/{id}/logs`, `/syncs/{id}/rejects`."""

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from bulkapi.definitions import wire_time
from bulkapi.exceptions import NotFound
from bulkapi.paging import ListSpec, paginate

from ..models import Reject, Sync, SyncLog
from ..services import render_sync, sync_cancel, sync_create, sync_retry

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


def _sync(request, pk: int) -> Sync:
    sync = Sync.objects.for_site(request.user.site).filter(pk=pk).first()
    if sync is None:
        raise NotFound()
    return sync


class SyncListApi(APIView):
    def get(self, request):
        qs = Sync.objects.for_site(request.user.site)
        return Response(paginate(qs, request.query_params, lambda rows: [render_sync(s) for s in rows], SYNC_LIST))

    def post(self, request):
        sync = sync_create(site=request.user.site, user=request.user, body=request.data)
        return Response(render_sync(sync), status=status.HTTP_201_CREATED)


class SyncDetailApi(APIView):
    def get(self, request, pk: int):
        return Response(render_sync(_sync(request, pk), progress=True))


class SyncCancelApi(APIView):
    """Beyond Eloqua: stop a pending or active sync (it ends `error`, its unprocessed rows rejected
    as `SRV-00101`); 409 when it has already ended."""

    def post(self, request, pk: int):
        sync = sync_cancel(sync_id=_sync(request, pk).pk, by=request.user.username)
        return Response(render_sync(sync, progress=True))


class SyncRetryApi(APIView):
    """Beyond Eloqua: a new sync over the rows an errored sync did not process; 201 with it."""

    def post(self, request, pk: int):
        retry = sync_retry(sync_id=_sync(request, pk).pk, user=request.user)
        return Response(render_sync(retry), status=status.HTTP_201_CREATED)


def render_log(log: SyncLog) -> dict:
    return {
        "syncUri": f"/syncs/{log.sync_id}",
        "count": log.count,
        "severity": log.severity,
        "statusCode": log.status_code,
        "message": log.message,
        "createdAt": wire_time(log.created_at),
    }


def render_reject(reject: Reject) -> dict:
    return {
        "fieldValues": reject.field_values,
        "invalidFields": reject.invalid_fields,
        "message": reject.message,
        "statusCode": reject.status_code,
        "recordIndex": reject.record_index,
    }


class SyncLogsApi(APIView):
    def get(self, request, pk: int):
        qs = SyncLog.objects.filter(sync=_sync(request, pk)).order_by("id")
        return Response(paginate(qs, request.query_params, lambda rows: [render_log(r) for r in rows]))


class SyncRejectsApi(APIView):
    def get(self, request, pk: int):
        qs = Reject.objects.filter(sync=_sync(request, pk)).order_by("record_index", "id")
        return Response(paginate(qs, request.query_params, lambda rows: [render_reject(r) for r in rows]))
