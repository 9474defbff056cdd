from django.core.files.uploadedfile import SimpleUploadedFile

HEADER = "OpportunityDateTime,CurrencyCode,OpportunityValue,PipelineStage,EmailAddress,Reference"


def csv_file(text: str | bytes, name: str = "batch.csv") -> SimpleUploadedFile:
    raw = text.encode() if isinstance(text, str) else text
    return SimpleUploadedFile(name, raw, content_type="text/csv")


def rows_csv(*rows: str, header: str = HEADER) -> str:
    return "\r\n".join([header, *rows]) + "\r\n"


def upload(api, text: str | bytes, site_id: int | None = None, name: str = "batch.csv"):
    site_id = api.site.pk if site_id is None else site_id
    return api.post(f"/api/v1/{site_id}/opportunity/upload/batch", {"file": csv_file(text, name)}, format="multipart")
