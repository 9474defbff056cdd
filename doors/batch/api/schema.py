"""Docs-only serializers of the batch door's other wire shapes; the job answer is a shape (`doors/batch/api/shapes.py`)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema_field
from rest_framework import serializers

from doors.eloqua.schema import ErrorSerializer
from doors.eloqua.schema.shapes import WIRE_TIME_EXAMPLE


class BatchUploadRequestSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The CSV (UTF-8, header row); see docs/batch-upload.md for its columns.")

    class Meta:
        ref_name = "BatchUpload"


class BatchAcceptedSerializer(serializers.Serializer):
    jobId = serializers.UUIDField()  # noqa: N815 - wire names

    class Meta:
        ref_name = "BatchAccepted"


class BatchErrorSerializer(ErrorSerializer):
    """A refused file: the first 1000 row errors (`row`, `field` = column, `value`) and how many in all."""

    totalErrors = serializers.IntegerField(  # noqa: N815
        required=False,
        min_value=1,
        help_text="Every row error found (`failures` lists the first); for `invalid_batch`.",
    )

    class Meta:
        ref_name = "BatchError"


@extend_schema_field({"type": "string", "format": "uri", "nullable": True})
class FileUrlField(serializers.CharField):
    """An absolute URL once the job has ended, null before."""


JOB_EXAMPLE = {
    "jobId": "5099b70a-4236-4c3c-82ad-dfcffe4e4fa5",
    "status": "partialcomplete",
    "uploadedFileName": "may-deals.csv",
    "createdOn": WIRE_TIME_EXAMPLE,
    "updatedOn": WIRE_TIME_EXAMPLE,
    "actualRowCount": 4,
    "totalUploadedCount": 3,
    "createdCount": 2,
    "updatedCount": 1,
    "errorCount": 1,
    "progress": {"processedRows": 4, "totalRows": 4, "percent": 100.0},
    "createdStages": [{"id": 12, "name": "Demo booked"}],
    "errorFileUrl": "https://bulk.example/api/v1/1/batch/5099b70a-4236-4c3c-82ad-dfcffe4e4fa5/errors.csv",
    "successFileUrl": "https://bulk.example/api/v1/1/batch/5099b70a-4236-4c3c-82ad-dfcffe4e4fa5/successes.csv",
}

INVALID_FILE = OpenApiResponse(
    BatchErrorSerializer,
    description="The file was refused; nothing was stored and no job was created.",
    examples=[
        OpenApiExample(
            "A bad currency",
            value={
                "code": "invalid_batch",
                "message": "The file is invalid; nothing was stored and no job was created.",
                "failures": [{"field": "CurrencyCode", "row": 2, "value": "XYZ",
                              "constraint": "Not an ISO 4217 currency code."}],
                "totalErrors": 1,
            },
        )
    ],
)  # fmt: skip
