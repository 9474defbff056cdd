"""The Capillary door's wire shapes: the one serializer renders the answers and documents them."""

from __future__ import annotations

from rest_framework import serializers

from ..models import CustomerIdentifier
from ..selectors import UploadStatus

# The document's example answer (seeds/004), verbatim: the OpenAPI example, and what the tests
# compare the live answer's shape and types with.
DOCUMENT_EXAMPLE = {
    "success": True,
    "status": 200,
    "result": {
        "orgId": 100458,
        "couponSeriesId": 541854,
        "uploadJobStatuses": [
            {
                "jobId": 222696,
                "uploadStatus": "STARTED",
                "createdOn": "1717651325445",
                "updatedOn": "1717651325445",
                "errorFileUrl": None,
                "successFileUrl": None,
                "uploadedFileUrl": "couponbatchupload_1717651325326_541854.csv",
                "totalUploadedCount": 0,
                "actualRowCount": 0,
                "errorCount": 0,
                "uploadTableName": None,
                "uploadedFileName": "couponbatchupload.csv",
                "audienceGroupId": 0,
                "audienceGroupVersionId": 0,
            }
        ],
        "fileName": "couponbatchupload_1717651325326_541854.csv",
    },
}


class UploadInputSerializer(serializers.Serializer):
    """The multipart form of `POST /coupon/api/v1/upload/file/{seriesId}`."""

    file = serializers.FileField(help_text="The CSV: a header row naming the series' field keys, then the rows.")
    customerIdentifier = serializers.ChoiceField(  # noqa: N815 - wire names
        choices=CustomerIdentifier.choices,
        help_text="What `customerIdentifierColumn` holds: the contact's e-mail, business phone or external id; "
        "`NOT_TAGGED` links no contact.",
    )
    customerIdentifierColumn = serializers.CharField(  # noqa: N815
        required=False,
        allow_blank=True,
        max_length=1000,
        help_text="The header column naming each row's customer; required unless `NOT_TAGGED`.",
    )

    class Meta:
        ref_name = "CapillaryUploadRequest"

    def validate(self, attrs):
        if attrs["customerIdentifier"] != CustomerIdentifier.NOT_TAGGED and not attrs.get("customerIdentifierColumn"):
            raise serializers.ValidationError(
                {"customerIdentifierColumn": f"Required when customerIdentifier is {attrs['customerIdentifier']}."}
            )
        return attrs


class UploadJobStatusSerializer(serializers.Serializer):
    jobId = serializers.IntegerField(help_text="The upload job's id.")  # noqa: N815
    uploadStatus = serializers.ChoiceField(  # noqa: N815
        choices=[(s, s) for s in UploadStatus.ALL],
        help_text="STARTED, IN_PROGRESS, then COMPLETED, PARTIALLY_COMPLETED or FAILED (README: the mapping from "
        "the job's syncs).",
    )
    createdOn = serializers.CharField(help_text="Epoch milliseconds, as a string.")  # noqa: N815
    updatedOn = serializers.CharField(help_text="Epoch milliseconds, as a string.")  # noqa: N815
    errorFileUrl = serializers.CharField(allow_null=True, help_text="The error file once the job has ended.")  # noqa: N815
    successFileUrl = serializers.CharField(allow_null=True, help_text="The success file once the job has ended.")  # noqa: N815
    uploadedFileUrl = serializers.CharField(help_text="The stored file's name.")  # noqa: N815
    totalUploadedCount = serializers.IntegerField(help_text="Rows stored.")  # noqa: N815
    actualRowCount = serializers.IntegerField(help_text="Data rows in the file.")  # noqa: N815
    errorCount = serializers.IntegerField(help_text="Rows not stored (the error file's rows).")  # noqa: N815
    uploadTableName = serializers.CharField(allow_null=True, help_text="Always null.")  # noqa: N815
    uploadedFileName = serializers.CharField(allow_blank=True, help_text="The file's name as uploaded.")  # noqa: N815
    audienceGroupId = serializers.IntegerField(help_text="Always 0: no audience groups here.")  # noqa: N815
    audienceGroupVersionId = serializers.IntegerField(help_text="Always 0.")  # noqa: N815

    class Meta:
        ref_name = "CapillaryUploadJobStatus"


class UploadResultSerializer(serializers.Serializer):
    orgId = serializers.IntegerField(help_text="The caller's site id.")  # noqa: N815
    couponSeriesId = serializers.IntegerField(help_text="The series: the opportunity import definition.")  # noqa: N815
    uploadJobStatuses = UploadJobStatusSerializer(many=True)  # noqa: N815
    fileName = serializers.CharField(  # noqa: N815
        allow_null=True, help_text="The stored name of the file uploaded (POST), or of the newest job (GET)."
    )

    class Meta:
        ref_name = "CapillaryUploadResult"


class UploadEnvelopeSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    status = serializers.IntegerField(help_text="The HTTP status.")
    result = UploadResultSerializer()

    class Meta:
        ref_name = "CapillaryUploadEnvelope"


class ErrorItemSerializer(serializers.Serializer):
    field = serializers.CharField()
    row = serializers.IntegerField(required=False)
    value = serializers.CharField(required=False)
    constraint = serializers.CharField()

    class Meta:
        ref_name = "CapillaryErrorItem"


class ErrorEnvelopeSerializer(serializers.Serializer):
    """Every error of this door: the document's envelope with `success: false`."""

    success = serializers.BooleanField()
    status = serializers.IntegerField(help_text="The HTTP status.")
    code = serializers.CharField(help_text="Our stable machine code (`invalid_upload`, `validation_error`, ...).")
    message = serializers.CharField()
    errors = ErrorItemSerializer(many=True, help_text="Each problem, naming the field (or column) and the rule.")

    class Meta:
        ref_name = "CapillaryError"
