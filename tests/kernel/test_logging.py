import json
import logging

import pytest

from kernel.logging import ContextFilter, bind_log_context, log_context

pytestmark = pytest.mark.django_db


def _json_handler(stream):
    from django.conf import settings
    from pythonjsonlogger.json import JsonFormatter

    spec = settings.LOGGING["formatters"]["json"]
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(spec["fmt"], rename_fields=spec["rename_fields"]))
    handler.addFilter(ContextFilter())
    return handler


def test_json_lines_carry_request_site_and_sync(api):
    import io

    stream = io.StringIO()
    logger = logging.getLogger("tests.structured")
    logger.addHandler(_json_handler(stream))
    logger.setLevel(logging.INFO)
    try:
        with log_context(request_id="req-1"):
            bind_log_context(site="Acme")
            with log_context(sync_id=7):
                logger.info("chunk done")
    finally:
        logger.handlers.clear()
    line = json.loads(stream.getvalue().strip())
    assert line["message"] == "chunk done" and line["level"] == "INFO"
    assert (line["request_id"], line["site"], line["sync_id"]) == ("req-1", "Acme", 7)


def test_authenticated_requests_log_their_site(api, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        api.get("/api/bulk/2.0/opportunities/imports/999999")
    record = next(r for r in caplog.records if r.name == "django.request")
    assert getattr(record, "site", None) == api.site.name
    assert getattr(record, "request_id", "-") != "-"
