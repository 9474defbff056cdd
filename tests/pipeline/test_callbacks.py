"""Sync callbacks go to the address that was checked: the name is resolved once, vetted, and the
POST connects to that address, with the name as Host header, TLS server name and certificate name.

DNS is stubbed (`socket.getaddrinfo`, for the names below only): a resolver that answers a public
address first and 127.0.0.1 next is the DNS-rebinding attack. The public address is routed to a
stand-in server on 127.0.0.2 (we do not run the internet); the internal service on 127.0.0.1 must
never see the callback."""

from __future__ import annotations

import datetime
import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from doors.eloqua.shapes import SYNC
from pipeline.models import Sync, SyncStatus
from pipeline.services import sync_callback_send
from tests.factories import SyncFactory

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.215.14"  # a global address: passes the check; the stub routes it to 127.0.0.2


class Recorder(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append({"host": self.headers["Host"], "path": self.path, "body": json.loads(body)})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def serve(address: str, port: int = 0, tls: ssl.SSLContext | None = None) -> HTTPServer:
    server = HTTPServer((address, port), Recorder)
    server.received = []
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def dns(monkeypatch):
    """`dns[name] = [first answer, later answer]`; `dns.calls` lists the names looked up."""
    real = socket.getaddrinfo

    class Answers(dict):
        calls: list[str]

    answers = Answers()
    answers.calls = calls = []

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        key = host.decode() if isinstance(host, bytes) else host
        if key not in answers:
            return real(host, port, family, type, proto, flags)
        calls.append(key)
        seq = answers[key]
        address = seq.pop(0) if len(seq) > 1 else seq[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def ended_sync(site, url: str) -> Sync:
    return SyncFactory(site=site, status=SyncStatus.SUCCESS, callback_url=url)


def test_a_name_rebound_to_loopback_after_the_check_is_never_called_there(site, dns, settings):
    # given: an internal service on 127.0.0.1, the public host's stand-in on 127.0.0.2, same port
    settings.CALLBACK_ALLOW_PRIVATE = False
    internal = serve("127.0.0.1")
    port = internal.server_port
    public = serve("127.0.0.2", port)
    # a name that resolves to a public address first and to 127.0.0.1 on every later lookup
    dns["hooks.rebind.test"] = [PUBLIC, "127.0.0.1"]
    dns[PUBLIC] = ["127.0.0.2"]  # the route to the public address, in this test
    sync = ended_sync(site, f"http://hooks.rebind.test:{port}/done")
    try:
        # when
        sync_callback_send(sync_id=sync.pk)
        # then: the vetted address got the callback, with the name as Host; loopback got nothing
        assert internal.received == []
        assert public.received == [{"host": f"hooks.rebind.test:{port}", "path": "/done", "body": SYNC.render(sync)}]
        assert dns.calls.count("hooks.rebind.test") == 1  # resolved once, by the check
    finally:
        internal.shutdown()
        public.shutdown()


def test_a_name_that_resolves_to_loopback_is_refused_at_send_time(site, dns, settings):
    settings.CALLBACK_ALLOW_PRIVATE = False
    internal = serve("127.0.0.1")
    dns["hooks.moved.test"] = ["127.0.0.1"]
    try:
        sync_callback_send(sync_id=ended_sync(site, f"http://hooks.moved.test:{internal.server_port}/").pk)
        assert internal.received == []
    finally:
        internal.shutdown()


def test_a_normal_callback_still_works(site, dns, settings):
    settings.CALLBACK_ALLOW_PRIVATE = True  # the test's receiver is on loopback
    receiver = serve("127.0.0.1")
    dns["hooks.example.test"] = ["127.0.0.1"]
    sync = ended_sync(site, f"http://hooks.example.test:{receiver.server_port}/synced?client=7")
    try:
        sync_callback_send(sync_id=sync.pk)
        assert receiver.received == [
            {
                "host": f"hooks.example.test:{receiver.server_port}",
                "path": "/synced?client=7",
                "body": SYNC.render(sync),
            }
        ]
    finally:
        receiver.shutdown()


def test_a_failing_receiver_raises_so_that_the_task_retries(site, settings):
    settings.CALLBACK_ALLOW_PRIVATE = True
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(requests.ConnectionError):
        sync_callback_send(sync_id=ended_sync(site, f"http://127.0.0.1:{port}/").pk)


# --- TLS: the certificate and the server name are the URL's host, not the address ---------------


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificate(subject, issuer, key, signer, *, ca: bool, names=()):
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    return builder.sign(signer, hashes.SHA256())


@pytest.fixture
def tls_files(tmp_path):
    """A test CA (its file for CALLBACK_CA_BUNDLE) and a server certificate for `name`."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate(_name("Test CA"), _name("Test CA"), ca_key, ca_key, ca=True)
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))

    def server_context(name: str) -> tuple[ssl.SSLContext, list[str]]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(_name(name), ca.subject, key, ca_key, ca=False, names=[name])
        (tmp_path / f"{name}.pem").write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tmp_path / f"{name}.pem")
        seen: list[str] = []
        context.sni_callback = lambda sock, server_name, ctx: seen.append(server_name)
        return context, seen

    server_context.ca = str(tmp_path / "ca.pem")
    return server_context


def test_https_callbacks_send_the_name_as_sni_and_verify_the_certificate_for_it(site, dns, settings, tls_files):
    settings.CALLBACK_ALLOW_PRIVATE = True
    settings.CALLBACK_CA_BUNDLE = tls_files.ca
    context, sni = tls_files("hooks.example.test")
    receiver = serve("127.0.0.1", tls=context)
    dns["hooks.example.test"] = ["127.0.0.1"]
    sync = ended_sync(site, f"https://hooks.example.test:{receiver.server_port}/synced")
    try:
        sync_callback_send(sync_id=sync.pk)
        assert sni == ["hooks.example.test"]
        assert [r["host"] for r in receiver.received] == [f"hooks.example.test:{receiver.server_port}"]
    finally:
        receiver.shutdown()


def test_https_callbacks_refuse_a_certificate_for_another_name(site, dns, settings, tls_files):
    settings.CALLBACK_ALLOW_PRIVATE = True
    settings.CALLBACK_CA_BUNDLE = tls_files.ca
    context, _ = tls_files("other.example.test")  # valid, from the trusted CA, but not for this name
    receiver = serve("127.0.0.1", tls=context)
    dns["hooks.example.test"] = ["127.0.0.1"]
    try:
        with pytest.raises(requests.exceptions.SSLError):
            sync_callback_send(sync_id=ended_sync(site, f"https://hooks.example.test:{receiver.server_port}/").pk)
        assert receiver.received == []
    finally:
        receiver.shutdown()
