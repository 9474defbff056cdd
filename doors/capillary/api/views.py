"""`/coupon/api/v1/upload/file/{seriesId}` (POST a file, GET the series' jobs) and the jobs' files."""

from __future__ import annotations

import re

from django.conf import settings
from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from doors.batch.selectors import batch_result_file
from kernel.converters import IdConverter
from kernel.csvcells import csv_lines
from kernel.exceptions import Conflict, Failure, NotFound, PayloadTooLarge
from kernel.parsers import MultiPartParser

from ..models import UploadJob
from ..selectors import series_get, upload_job_get, upload_job_state, upload_job_updated_at, upload_jobs_list
from ..services import upload_job_create
from .serializers import DOCUMENT_EXAMPLE, ErrorEnvelopeSerializer, UploadEnvelopeSerializer, UploadInputSerializer

MULTIPART_OVERHEAD = 64 * 1024  # boundary lines, part headers and the two text fields around the file


def path_id(value: str) -> int:
    """A path id as `<id:...>` reads it (kernel.converters), else a 404 in this door's envelope."""
    if not re.fullmatch(IdConverter.regex, value):
        raise NotFound()
    return int(value)


def _epoch_ms(value) -> str:
    return str(int(value.timestamp() * 1000))


def _file_url(request, name: str, job: UploadJob) -> str:
    return request.build_absolute_uri(reverse(name, kwargs={"series_id": job.series_id, "job_id": job.pk}))


def job_row(request, job: UploadJob) -> dict:
    state = upload_job_state(job)
    return {
        "jobId": job.pk,
        "uploadStatus": state.status,
        "createdOn": _epoch_ms(job.created_at),
        "updatedOn": _epoch_ms(upload_job_updated_at(job)),
        "errorFileUrl": _file_url(request, "capillary-error-file", job) if state.ended else None,
        "successFileUrl": _file_url(request, "capillary-success-file", job) if state.ended else None,
        "uploadedFileUrl": job.file_name,
        "totalUploadedCount": state.stored,
        "actualRowCount": job.batch_job.row_count,
        "errorCount": state.errors,
        "uploadTableName": None,
        "uploadedFileName": job.batch_job.uploaded_file_name,
        "audienceGroupId": 0,
        "audienceGroupVersionId": 0,
    }


def envelope(request, *, series_id: int, jobs: list[UploadJob], file_name: str | None) -> dict:
    return UploadEnvelopeSerializer(
        {
            "success": True,
            "status": status.HTTP_200_OK,
            "result": {
                "orgId": request.user.site_id,
                "couponSeriesId": series_id,
                "uploadJobStatuses": [job_row(request, j) for j in jobs],
                "fileName": file_name,
            },
        }
    ).data


class CapillaryApi(APIView):
    """Errors in the document's envelope: the one exception handler's body, wrapped."""

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        body = response.data if isinstance(response.data, dict) else {}
        response.data = ErrorEnvelopeSerializer(
            {
                "success": False,
                "status": response.status_code,
                "code": body.get("code", "error"),
                "message": body.get("message", ""),
                "errors": body.get("failures", []),
            }
        ).data
        return response


SERIES_ID = OpenApiParameter(
    "series_id",
    OpenApiTypes.INT,
    OpenApiParameter.PATH,
    description="The coupon series: one of your opportunity import definitions (`/opportunities/imports/{id}`); "
    "another site's is a 404.",
)
JOB_ID = OpenApiParameter("job_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The job's `jobId`.")
ENVELOPE_200 = OpenApiResponse(
    UploadEnvelopeSerializer, examples=[OpenApiExample("The document's example", value=DOCUMENT_EXAMPLE)]
)


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorEnvelopeSerializer, description=description)


class UploadFileApi(CapillaryApi):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="capillary_upload_file",
        summary="Upload a CSV of opportunities to a series (Capillary's coupon batch upload)",
        description=(
            "Stages the file for the series' import and starts its sync; each stored opportunity is linked to the "
            "contact `customerIdentifierColumn` names (by e-mail, business phone or external id) unless "
            "`NOT_TAGGED`. The answer lists the new job (`STARTED`); poll `GET` on the same path."
        ),
        parameters=[SERIES_ID],
        request={"multipart/form-data": UploadInputSerializer},
        responses={
            200: ENVELOPE_200,
            400: _error("A missing or unreadable file, an unknown customerIdentifier, a column not in the header."),
            404: _error("Not your site's opportunity import definition."),
            413: _error("The file is too large, or past the site's quotas."),
            507: _error("The site's quotas are used up."),
        },
    )
    def post(self, request, series_id: str):
        series_id = path_id(series_id)
        length = request.META.get("CONTENT_LENGTH") or ""
        if length.isdigit() and int(length) > settings.BULK_MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD:
            raise PayloadTooLarge(
                [Failure(field="file", constraint=f"The file exceeds {settings.BULK_MAX_UPLOAD_BYTES} bytes.")]
            )
        series_get(site=request.user.site, series_id=series_id)  # another site's series: 404 before the form
        form = UploadInputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            job = upload_job_create(
                site=request.user.site,
                user=request.user,
                series_id=series_id,
                upload=data["file"],
                customer_identifier=data["customerIdentifier"],
                customer_column=data.get("customerIdentifierColumn", ""),
            )
        finally:
            data["file"].close()
        job = upload_job_get(series=job.series, job_id=job.pk)
        return Response(envelope(request, series_id=series_id, jobs=[job], file_name=job.file_name))

    @extend_schema(
        operation_id="capillary_upload_jobs",
        summary="The series' upload jobs as they progress",
        description="The newest 100 jobs, newest first, in the upload's answer shape.",
        parameters=[SERIES_ID],
        responses={200: ENVELOPE_200, 404: _error("Not your site's opportunity import definition.")},
    )
    def get(self, request, series_id: str):
        series_id = path_id(series_id)
        series = series_get(site=request.user.site, series_id=series_id)
        jobs = upload_jobs_list(series=series)
        return Response(
            envelope(request, series_id=series_id, jobs=jobs, file_name=jobs[0].file_name if jobs else None)
        )


class _FileApi(CapillaryApi):
    successes = True
    suffix = ""

    def get(self, request, series_id: str, job_id: str):
        series = series_get(site=request.user.site, series_id=path_id(series_id))
        job = upload_job_get(series=series, job_id=path_id(job_id))
        if not upload_job_state(job).ended:
            raise Conflict([Failure(field="jobId", value=job_id, constraint="The job has not finished yet.")])
        # Every column of the file is the series' own (`OpportunityID` is a key, not an outcome column).
        header, rows = batch_result_file(job.batch_job, successes=self.successes, keep_outcome_columns=True)
        response = StreamingHttpResponse(csv_lines(header, rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="capillary-{job.pk}-{self.suffix}.csv"'
        return response


def _file_schema(operation_id: str, summary: str):
    return extend_schema(
        operation_id=operation_id,
        summary=summary,
        description="The batch door's file (same writer): outcome columns, then the row's own cells. 409 until "
        "the job has ended.",
        parameters=[SERIES_ID, JOB_ID],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The CSV file (an attachment)."),
            404: _error("Not your site's series or job."),
            409: _error("The job has not ended yet."),
        },
    )


class ErrorFileApi(_FileApi):
    successes, suffix = False, "errors"

    @_file_schema("capillary_error_file", "A Capillary upload job's error file: every row not stored, and why")
    def get(self, request, series_id: str, job_id: str):
        return super().get(request, series_id, job_id)


class SuccessFileApi(_FileApi):
    successes, suffix = True, "successes"

    @_file_schema("capillary_success_file", "A Capillary upload job's success file: every stored row")
    def get(self, request, series_id: str, job_id: str):
        return super().get(request, series_id, job_id)
