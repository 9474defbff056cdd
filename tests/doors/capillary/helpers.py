from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import ImportDefinitionFactory

# The series' keys (tests.factories.OPPORTUNITY_FIELDS), and the customer column beside them.
HEADER = "OpportunityID,OpportunityName,Amount,Stage,Currency,email"


def series_for(site):
    """A coupon series: an opportunity import definition of the Eloqua door."""
    return ImportDefinitionFactory(site=site)


def csv_file(text: str | bytes, name: str = "couponbatchupload.csv") -> SimpleUploadedFile:
    raw = text.encode() if isinstance(text, str) else text
    return SimpleUploadedFile(name, raw, content_type="text/csv")


def rows_csv(*rows: str, header: str = HEADER) -> str:
    return "\r\n".join([header, *rows]) + "\r\n"


def path(series_id: int) -> str:
    return f"/coupon/api/v1/upload/file/{series_id}"


def upload(client, series_id: int, text: str | bytes, *, identifier="EMAIL", column="email", **headers):
    form = {"file": csv_file(text), "customerIdentifier": identifier}
    if column is not None:
        form["customerIdentifierColumn"] = column
    return client.post(path(series_id), form, format="multipart", **headers)
