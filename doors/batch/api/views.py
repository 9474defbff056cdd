"""`/api/v1/{siteId}/opportunity/upload/batch`, `/api/v1/{siteId}/batch[/{jobId}/status|errors.csv|successes.csv]`."""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler, MemoryFileUploadHandler, TemporaryFileUploadHandler
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from doors.batch.api.schema import (
    INVALID_FILE,
    JOB_EXAMPLE,
    BatchAcceptedSerializer,
    BatchUploadRequestSerializer,
)
from doors.batch.api.shapes import BATCH_JOB, render_job
from doors.batch.models import BatchJob
from doors.batch.selectors import batch_job_get, batch_job_state, batch_result_file, is_terminal
from doors.batch.services import BatchInvalid, batch_job_create, max_upload_bytes, too_large
from doors.eloqua.schema import page_of
from doors.eloqua.schema.shapes import (
    QUOTA_413,
    QUOTA_507,
    bulk_list_parameters,
    error_response,
    idempotency_parameters,
    idempotency_responses,
)
from kernel.csvcells import csv_lines
from kernel.exceptions import Conflict, Failure, NotFound, ValidationFailed
from kernel.idempotency import files_digest, idempotent
from kernel.paging import ListSpec, paginate
from kernel.parsers import MultiPartParser

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


SITE_ID = OpenApiParameter(
    "site_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Your site's id (another site's is a 404)."
)
JOB_ID = OpenApiParameter("job_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The job's `jobId`.")


class BatchUploadApi(SiteScopedApi):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="batch_upload",
        summary="Upload a CSV of opportunities as one batch job",
        description=(
            "The whole file is validated first: if any row is invalid, the answer is a 400 listing the row errors "
            "and nothing is stored. Otherwise a job is created and its rows are synced by a worker; poll its "
            "status. Files above BATCH_MAX_UPLOAD_BYTES (256 MiB) are a 413, and so is a file past the room left "
            "in the site's quotas (staged rows and bytes, stored batch files); a site whose quotas are used up "
            "already (rejected rows included) gets a 507, before the file is checked."
        ),
        parameters=[SITE_ID, *idempotency_parameters(202)],
        request={"multipart/form-data": BatchUploadRequestSerializer},
        responses={
            202: OpenApiResponse(
                BatchAcceptedSerializer,
                description="Accepted: the job is queued.",
                examples=[OpenApiExample("Accepted", value={"jobId": JOB_EXAMPLE["jobId"]})],
            ),
            400: INVALID_FILE,
            413: QUOTA_413,
            507: QUOTA_507,
            **idempotency_responses(""),
        },
    )
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
    @extend_schema(
        operation_id="batch_jobs_list",
        summary="List the site's batch jobs",
        description="Newest first unless `orderBy` says otherwise.",
        parameters=[
            SITE_ID,
            *bulk_list_parameters(order_by=tuple(JOB_LIST.fields), q_terms=tuple(JOB_LIST.fields)),
        ],
        responses={
            200: OpenApiResponse(
                page_of(BATCH_JOB.serializer, "BatchJobPage"),
                examples=[
                    OpenApiExample(
                        "One page",
                        value={"items": [JOB_EXAMPLE], "totalResults": 1, "limit": 1000, "offset": 0, "count": 1,
                               "hasMore": False},
                    )
                ],
            )
        },
    )  # fmt: skip
    def get(self, request, site_id: int):
        qs = BatchJob.objects.for_site(request.user.site).select_related("sync")
        return Response(
            paginate(qs, request.query_params, lambda rows: [render_job(request, j) for j in rows], JOB_LIST)
        )


class BatchJobStatusApi(SiteScopedApi):
    @extend_schema(
        operation_id="batch_job_status",
        summary="A batch job's status and counts",
        description=(
            "`pending`, `processing`, then `complete`, `partialcomplete` or `failed`. The file URLs are null until "
            "the job has ended."
        ),
        parameters=[SITE_ID, JOB_ID],
        responses={200: OpenApiResponse(BATCH_JOB.serializer, examples=[OpenApiExample("Ended", value=JOB_EXAMPLE)])},
    )
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


def _file_schema(operation_id: str, summary: str, description: str):
    return extend_schema_view(
        get=extend_schema(
            operation_id=operation_id,
            summary=summary,
            description=description + " Streamed; formula-like cells get a leading `'`. 409 until the job has ended.",
            parameters=[SITE_ID, JOB_ID],
            responses={
                (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The CSV file (an attachment)."),
                409: error_response("409", "The job has not ended yet."),
            },
        )
    )


@_file_schema("batch_errors_file", "A batch job's error file", "Every row that was not stored, and why.")
class BatchErrorFileApi(_FileApi):
    successes, suffix = False, "errors"


@_file_schema("batch_successes_file", "A batch job's success file", "Every stored row and its opportunity.")
class BatchSuccessFileApi(_FileApi):
    successes, suffix = True, "successes"


# The two paths of Ruler's document (`/v1/...`, doors.batch.api.urls.document_urlpatterns): the same
# views, documented under their own operation ids.
@extend_schema_view(
    post=extend_schema(
        operation_id="ruler_batch_upload",
        summary="Upload a CSV of opportunities as one batch job (Ruler's path)",
    )
)
class BatchUploadDocumentApi(BatchUploadApi):
    pass


@extend_schema_view(
    get=extend_schema(operation_id="ruler_batch_job_status", summary="A batch job's status and counts (Ruler's path)")
)
class BatchJobStatusDocumentApi(BatchJobStatusApi):
    pass
