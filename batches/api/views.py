"""`/api/v1/{siteId}/opportunity/upload/batch`, `/api/v1/{siteId}/batch[/{jobId}/status|errors.csv|successes.csv]`."""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler, MemoryFileUploadHandler, TemporaryFileUploadHandler
from django.http import StreamingHttpResponse
from django.urls import reverse
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from bulkapi.definitions import wire_time
from bulkapi.exceptions import Conflict, Failure, NotFound, ValidationFailed
from bulkapi.idempotency import files_digest, idempotent
from bulkapi.paging import ListSpec, paginate

from ..csvfiles import csv_lines
from ..models import BatchJob
from ..selectors import batch_job_get, batch_job_state, batch_result_file, is_terminal
from ..services import BatchInvalid, batch_job_create, max_upload_bytes, too_large

MULTIPART_OVERHEAD = 64 * 1024  # boundary lines and part headers around the file


class _LimitHandler(FileUploadHandler):
    """First upload handler: counts the file's bytes and stops the upload past the limit (413),
    before the rest is written to disk. Passes the data on to the usual handlers."""

    def __init__(self, request=None):
        super().__init__(request)
        self.limit = max_upload_bytes()

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > self.limit:
            raise too_large(start + len(raw_data))
        return raw_data

    def file_complete(self, file_size):
        return None


class SiteScopedApi(APIView):
    """`{siteId}` must be the caller's site; any other id is a 404, as for another site's objects."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if kwargs.get("site_id") != request.user.site_id:
            raise NotFound()

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        if isinstance(exc, BatchInvalid):
            response.data["totalErrors"] = exc.total
        return response


def _absolute(request, name: str, job: BatchJob) -> str:
    return request.build_absolute_uri(reverse(name, kwargs={"site_id": job.site_id, "job_id": str(job.uuid)}))


def render_job(request, job: BatchJob) -> dict:
    state = batch_job_state(job)
    sync = job.sync
    updated = max(t for t in (job.created_at, sync and sync.heartbeat_at, sync and sync.sync_ended_at) if t)
    terminal = is_terminal(state)
    return {
        "jobId": str(job.uuid),
        "status": state.status,
        "uploadedFileName": job.uploaded_file_name,
        "createdOn": wire_time(job.created_at),
        "updatedOn": wire_time(updated),
        "actualRowCount": job.row_count,
        "totalUploadedCount": state.stored,
        "errorCount": state.errors,
        "progress": {
            "processedRows": state.processed,
            "totalRows": job.row_count,
            "percent": round(100 * state.processed / job.row_count, 1) if job.row_count else 100.0,
        },
        "createdStages": job.created_stages,
        "errorFileUrl": _absolute(request, "batch-error-file", job) if terminal else None,
        "successFileUrl": _absolute(request, "batch-success-file", job) if terminal else None,
    }


class BatchUploadApi(SiteScopedApi):
    parser_classes = [MultiPartParser]

    def post(self, request, site_id: int):
        length = request.META.get("CONTENT_LENGTH") or ""
        if length.isdigit() and int(length) > max_upload_bytes() + MULTIPART_OVERHEAD:
            raise too_large(int(length))
        django_request = request._request
        django_request.upload_handlers = [
            _LimitHandler(django_request),
            MemoryFileUploadHandler(django_request),
            TemporaryFileUploadHandler(django_request),
        ]
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationFailed([Failure(field="file", constraint="Send the CSV as the multipart part `file`.")])

        def answer(job) -> tuple[int, dict]:
            return status.HTTP_202_ACCEPTED, {"jobId": str(job.uuid)}

        def handle(idempotency):
            hook = idempotency.hook(answer) if idempotency else None
            job = batch_job_create(site=request.user.site, user=request.user, upload=upload, before_commit=hook)
            code, body = answer(job)
            return Response(body, status=code)

        try:
            return idempotent(request, handle, digest=files_digest(request))
        finally:
            upload.close()


JOB_LIST = ListSpec(
    fields={"createdOn": "created_at", "uploadedFileName": "uploaded_file_name"},
    default_order=("-created_at", "-id"),
    date_fields={"createdOn"},
)


class BatchJobListApi(SiteScopedApi):
    def get(self, request, site_id: int):
        qs = BatchJob.objects.for_site(request.user.site).select_related("sync")
        return Response(
            paginate(qs, request.query_params, lambda rows: [render_job(request, j) for j in rows], JOB_LIST)
        )


class BatchJobStatusApi(SiteScopedApi):
    def get(self, request, site_id: int, job_id: str):
        return Response(render_job(request, batch_job_get(site=request.user.site, job_id=job_id)))


class _FileApi(SiteScopedApi):
    successes = True
    suffix = ""

    def get(self, request, site_id: int, job_id: str):
        job = batch_job_get(site=request.user.site, job_id=job_id)
        if not is_terminal(batch_job_state(job)):
            raise Conflict([Failure(field="jobId", value=job_id, constraint="The job has not finished yet.")])
        header, rows = batch_result_file(job, successes=self.successes)
        response = StreamingHttpResponse(csv_lines(header, rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="batch-{job.uuid}-{self.suffix}.csv"'
        return response


class BatchErrorFileApi(_FileApi):
    successes, suffix = False, "errors"


class BatchSuccessFileApi(_FileApi):
    successes, suffix = True, "successes"
