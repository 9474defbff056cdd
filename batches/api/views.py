"""`/api/v1/{siteId}/opportunity/upload/batch`, `/api/v1/{siteId}/batch[/{jobId}/status|errors.csv|successes.csv]`."""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler, MemoryFileUploadHandler, TemporaryFileUploadHandler
from django.http import StreamingHttpResponse
from django.urls import reverse
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from bulkapi.definitions import wire_time
from bulkapi.exceptions import Conflict, Failure, NotFound, ValidationFailed
from bulkapi.paging import ListSpec, paginate
from bulkapi.parsers import MultiPartParser

from ..csvfiles import ERROR_HEADER, SUCCESS_HEADER, csv_lines
from ..models import BatchJob
from ..selectors import batch_error_rows, batch_job_get, batch_job_state, batch_success_rows, is_terminal
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
        parts = [name for name in request.FILES for _ in request.FILES.getlist(name)]
        if len(parts) > 1:  # which one would be the job? refuse rather than guess
            for name in request.FILES:
                for extra in request.FILES.getlist(name):
                    extra.close()
            raise ValidationFailed(
                [Failure(field="file", value=", ".join(parts), constraint="Send exactly one file part, `file`.")]
            )
        try:
            job = batch_job_create(site=request.user.site, user=request.user, upload=upload)
        finally:
            upload.close()
        return Response({"jobId": str(job.uuid)}, status=status.HTTP_202_ACCEPTED)


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
    header: tuple = ()
    suffix = ""

    def rows(self, job: BatchJob):
        raise NotImplementedError

    def get(self, request, site_id: int, job_id: str):
        job = batch_job_get(site=request.user.site, job_id=job_id)
        if not is_terminal(batch_job_state(job)):
            raise Conflict([Failure(field="jobId", value=job_id, constraint="The job has not finished yet.")])
        response = StreamingHttpResponse(csv_lines(self.header, self.rows(job)), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="batch-{job.uuid}-{self.suffix}.csv"'
        return response


class BatchErrorFileApi(_FileApi):
    header = ERROR_HEADER
    suffix = "errors"

    def rows(self, job):
        return batch_error_rows(job)


class BatchSuccessFileApi(_FileApi):
    header = SUCCESS_HEADER
    suffix = "successes"

    def rows(self, job):
        return batch_success_rows(job)
