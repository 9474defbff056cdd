"""Request framing over real HTTP, against a real gunicorn with our worker and WSGI stack: an upload
stages all of its rows or none, whatever the client does with the connection (a body shorter than
its Content-Length, a chunked body with or without its last chunk, a connection dropped at any
byte), and gunicorn's own refusals (URL and header sizes, malformed request lines) are JSON.

Raw sockets, because no HTTP client library sends a body that lies about its length.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import time

import pytest
from django.conf import settings

from doors.batch.models import BatchJob
from pipeline.models import ImportDefinition, StagedRow, StagedUpload
from tests.conftest import ROOT, database_url
from tests.factories import OPPORTUNITY_FIELDS, ImportDefinitionFactory, TokenFactory, UserFactory

UPLOAD_LIMIT = 200_000  # BULK_MAX_UPLOAD_BYTES of the server under test (small: the 413 stays quick)
BATCH_LIMIT = 300_000
BODY_LIMIT = 100_000  # API_MAX_BODY_BYTES


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(django_db_setup):
    """gunicorn as run.sh starts it (our worker class), on the test database."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "LOG_JSON": "false",
        "BULK_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
        "BATCH_MAX_UPLOAD_BYTES": str(BATCH_LIMIT),
        "API_MAX_BODY_BYTES": str(BODY_LIMIT),
    }
    (ROOT / ".run").mkdir(exist_ok=True)
    log = open(ROOT / ".run" / f"framing-gunicorn-{port}.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--timeout", "60", "--worker-class", "config.gunicorn.JsonErrorWorker",
         "--no-control-socket"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"gunicorn did not start; see {log.name}") from None
                time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def exchange(port: int, head: str, parts: list[bytes] = (), *, close: bool = True, pause: float = 0.0):
    """Send a request line and headers (`head`, without the blank line) and then `parts`; with
    `close`, shut the sending side down (the client is gone). Returns (status, headers, body)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        sock.sendall(head.encode("latin-1") + b"\r\n\r\n")
        try:
            for part in parts:
                sock.sendall(part)
                if pause:
                    time.sleep(pause)
            if close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server answered (413) and closed before the rest was sent
            pass
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        sock.close()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


LAST_CHUNK = b"0\r\n\r\n"


def error(body: bytes) -> dict:
    parsed = json.loads(body)
    assert isinstance(parsed, dict) and "code" in parsed and "message" in parsed, parsed
    return parsed


# --- gunicorn's own answers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "head,status,code",
    [
        ("GET /api/bulk/2.0/syncs?q=" + "a" * 8192 + " HTTP/1.1\r\nHost: 127.0.0.1", 414, "uri_too_long"),
        ("GET /api/bulk/2.0/syncs/" + "9" * 5000 + " HTTP/1.1\r\nHost: 127.0.0.1", 414, "uri_too_long"),
        ("GET /id HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + "a" * 10_240, 431, "header_too_large"),
        ("GET /id HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "\r\n".join(f"X-H{i}: 1" for i in range(150)), 431,
         "header_too_large"),
        ("GARBAGE", 400, "bad_request"),
        ("GET /id HTTP/9.9\r\nHost: 127.0.0.1", 400, "bad_request"),
        ("G\x00T /id HTTP/1.1\r\nHost: 127.0.0.1", 400, "bad_request"),
        ("GET /id HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer a\x00b", 400, "bad_request"),
        ("GET /id HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header: x", 400, "bad_request"),
        ("POST /id HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip", 400, "bad_request"),
        ("POST /id HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked", 400,
         "bad_request"),
        ("POST /id HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5", 400, "bad_request"),
    ],
)  # fmt: skip
def test_gunicorn_refusals_are_json(server, head, status, code):
    got, headers, body = exchange(server, head)
    assert got == status
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert error(body)["code"] == code


def test_a_bad_chunk_size_is_json(server):
    head = "POST /api/bulk/2.0/syncs HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked"
    status, headers, body = exchange(server, head, [b"zz\r\nhello\r\n0\r\n\r\n"])
    assert status == 400 and error(body)["code"] in ("bad_request", "incomplete_body")


def test_host_not_served_is_json(server):
    status, _, body = exchange(server, "GET /id HTTP/1.1\r\nHost: evil.example\r\nConnection: close")
    assert status == 400 and error(body)["code"] == "disallowed_host"


# --- uploads: all or none ------------------------------------------------------------------------


# Tests whose rows the server process must see: committed, flushed afterwards.
committed = pytest.mark.django_db(transaction=True)


@pytest.fixture
def upload_target(currencies):
    """A committed site, token and opportunity definition the server process can see."""
    token = TokenFactory(user=UserFactory())
    definition = ImportDefinitionFactory(site=token.user.site, name="framing")
    return token, definition


CSV_BODY = b"OpportunityID,OpportunityName,Amount,Stage\n" + b"".join(
    b"%d,Deal %d,10,Proposal\n" % (i, i) for i in range(2000)
)
JSON_BODY = json.dumps(
    [
        {"OpportunityID": str(i), "OpportunityName": f"Deal {i}", "Amount": "10", "Stage": "Proposal"}
        for i in range(2000)
    ]
).encode()
BODIES = {"text/csv": CSV_BODY, "application/json": JSON_BODY}


def _head(token, definition, content_type: str, framing: str) -> str:
    return (
        f"POST /api/bulk/2.0/opportunities/imports/{definition.pk}/data HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token.raw}\r\nContent-Type: {content_type}\r\nConnection: close\r\n{framing}"
    )


def staged(definition) -> tuple[int, int]:
    return (
        StagedRow.objects.filter(definition=definition).count(),
        StagedUpload.objects.filter(definition=definition).count(),
    )


@committed
@pytest.mark.parametrize("content_type", list(BODIES))
def test_complete_bodies_stage_every_row_chunked_or_not(server, upload_target, content_type):
    token, definition = upload_target
    body = BODIES[content_type]
    status, _, _ = exchange(server, _head(token, definition, content_type, f"Content-Length: {len(body)}"), [body])
    assert status == 204
    chunks = [chunk(body[i : i + 7000]) for i in range(0, len(body), 7000)] + [LAST_CHUNK]
    status, _, response = exchange(server, _head(token, definition, content_type, "Transfer-Encoding: chunked"), chunks)
    assert status == 204, response  # a chunked body is read, not taken as empty
    assert staged(definition) == (4000, 2)


@committed
@pytest.mark.parametrize("content_type", list(BODIES))
@pytest.mark.parametrize("fraction", [0.0001, 0.25, 0.5, 0.999])
def test_a_body_cut_short_stages_nothing(server, upload_target, content_type, fraction):
    """The client sends part of what its Content-Length announced and goes away."""
    token, definition = upload_target
    body = BODIES[content_type]
    sent = body[: max(1, int(len(body) * fraction))]
    status, _, response = exchange(
        server, _head(token, definition, content_type, f"Content-Length: {len(body)}"), [sent]
    )
    assert status == 400 and error(response)["code"] == "incomplete_body"
    assert staged(definition) == (0, 0)


@committed
def test_a_csv_cut_at_a_row_boundary_stages_nothing(server, upload_target):
    """The case a parser cannot see: the part that arrived is a complete, valid CSV."""
    token, definition = upload_target
    sent = CSV_BODY[: CSV_BODY.index(b"\n1000,") + 1]
    head = _head(token, definition, "text/csv", f"Content-Length: {len(CSV_BODY)}")
    status, _, response = exchange(server, head, [sent], pause=0.05)
    assert status == 400 and error(response)["code"] == "incomplete_body"
    assert staged(definition) == (0, 0)


@committed
@pytest.mark.parametrize("content_type", list(BODIES))
@pytest.mark.parametrize("ending", ["no last chunk", "cut inside a chunk", "cut inside a chunk size"])
def test_a_chunked_body_without_its_end_stages_nothing(server, upload_target, content_type, ending):
    token, definition = upload_target
    body = BODIES[content_type]
    half = len(body) // 2
    parts = {
        "no last chunk": [chunk(body[:half]), chunk(body[half:])],
        "cut inside a chunk": [chunk(body[:half]), b"%x\r\n" % (len(body) - half) + body[half : half + 100]],
        "cut inside a chunk size": [chunk(body[:half]), b"1f"],
    }[ending]
    status, _, response = exchange(server, _head(token, definition, content_type, "Transfer-Encoding: chunked"), parts)
    assert status == 400 and error(response)["code"] == "incomplete_body"
    assert staged(definition) == (0, 0)


@committed
@pytest.mark.parametrize("content_type", list(BODIES))
def test_the_413_holds_for_chunked_bodies(server, upload_target, content_type):
    token, definition = upload_target
    row = b"1,Deal,10,Proposal\n" if content_type == "text/csv" else b'{"OpportunityID": "1"},'
    head_row = b"OpportunityID,OpportunityName,Amount,Stage\n" if content_type == "text/csv" else b"["
    big = head_row + row * (UPLOAD_LIMIT // len(row) + 10)
    parts = [chunk(big[i : i + 16_384]) for i in range(0, len(big), 16_384)] + [LAST_CHUNK]
    status, _, response = exchange(server, _head(token, definition, content_type, "Transfer-Encoding: chunked"), parts)
    assert status == 413 and error(response)["code"] == "payload_too_large"
    status, _, response = exchange(server, _head(token, definition, content_type, f"Content-Length: {len(big)}"), [big])
    assert status == 413 and error(response)["code"] == "payload_too_large"
    assert staged(definition) == (0, 0)


# --- ordinary bodies and the batch upload --------------------------------------------------------


@committed
def test_a_chunked_json_body_reaches_the_view(server, upload_target):
    token, _ = upload_target
    body = json.dumps(
        {"name": "chunked", "fields": OPPORTUNITY_FIELDS, "identifierFieldName": "OpportunityID"}
    ).encode()
    head = (
        "POST /api/bulk/2.0/opportunities/imports HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Authorization: Bearer {token.raw}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked"
    )
    status, _, response = exchange(server, head, [chunk(body[:50]), chunk(body[50:]), LAST_CHUNK])
    assert status == 201, response
    assert ImportDefinition.objects.filter(name="chunked").exists()
    big = json.dumps({"name": "x" * BODY_LIMIT}).encode()
    status, _, response = exchange(server, head, [chunk(big), LAST_CHUNK])
    assert status == 413 and error(response)["code"] == "payload_too_large"


BATCH = b"OpportunityDateTime,CurrencyCode,OpportunityValue,PipelineStage,EmailAddress\r\n" + b"".join(
    b"2024-01-01T00:00:00Z,USD,10,Prospecting,p%d@example.com\r\n" % i for i in range(2000)
)


def _multipart(*files: tuple[str, bytes]) -> bytes:
    out = b""
    for name, content in files:
        out += (
            (
                f'--XyZ\r\nContent-Disposition: form-data; name="{name}"; filename="{name}.csv"\r\n'
                "Content-Type: text/csv\r\n\r\n"
            ).encode()
            + content
            + b"\r\n"
        )
    return out + b"--XyZ--\r\n"


def _batch_head(token, framing: str) -> str:
    return (
        f"POST /api/v1/{token.user.site_id}/opportunity/upload/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token.raw}\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n"
        f"Connection: close\r\n{framing}"
    )


@committed
@pytest.mark.parametrize(
    "framing,cut,status,code",
    [
        ("length", None, 202, None),
        ("chunked", None, 202, None),
        ("length", 0.5, 400, "incomplete_body"),
        ("length", "before the closing boundary", 400, "incomplete_body"),
        ("chunked", "no last chunk", 400, "incomplete_body"),
    ],
)
def test_the_batch_file_arrives_whole_or_not_at_all(server, upload_target, framing, cut, status, code):
    token, _ = upload_target
    body = _multipart(("file", BATCH))
    if framing == "length":
        if cut is None:
            sent = body
        elif cut == "before the closing boundary":
            sent = body[: body.index(b"--XyZ--")]
        else:
            sent = body[: int(len(body) * cut)]
        got, _, response = exchange(server, _batch_head(token, f"Content-Length: {len(body)}"), [sent])
    else:
        parts = [chunk(body[i : i + 20_000]) for i in range(0, len(body), 20_000)]
        got, _, response = exchange(
            server, _batch_head(token, "Transfer-Encoding: chunked"), parts + ([] if cut else [LAST_CHUNK])
        )
    assert got == status, response
    assert BatchJob.objects.count() == (1 if status == 202 else 0)
    if code:
        assert error(response)["code"] == code


@committed
def test_a_batch_with_two_file_parts_is_refused(server, upload_target):
    token, _ = upload_target
    body = _multipart(("file", BATCH), ("file", BATCH[:200]))
    status, _, response = exchange(server, _batch_head(token, f"Content-Length: {len(body)}"), [body])
    assert status == 400 and error(response)["failures"][0]["field"] == "file"
    assert not BatchJob.objects.exists()
