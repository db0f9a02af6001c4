"""The webhook poster against real local servers on 127.0.0.1: what the endpoint receives, how
each kind of answer (or none) comes back, that unsafe addresses are never connected to, and that
https connects to the checked address but verifies TLS against the host name.

No traffic leaves this machine: every URL is 127.0.0.1 or a name a stub resolves to it, and the
refusal tests replace the connection pools with ones that fail the test if used."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from batchcalls.domain.webhook_url import UnsafeWebhookUrl
from batchcalls.outbound import webhook_http
from batchcalls.outbound.webhook_http import PostResult, WebhookPoster, resolve_host

TIMEOUT = 0.5
SLOW = 2.0  # seconds the slow handler sleeps: well past TIMEOUT
BODY = '{"type":"batch.completed","data":{"name":"Ünïcode"}}'
HEADERS = {"content-type": "application/json", "webhook-id": "msg_1", "user-agent": "batchcalls-webhooks/1"}


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class Endpoint:
    """A local webhook endpoint; ``seen`` is every request it got, ``server_names`` every TLS
    server name (SNI) clients asked for."""

    port: int
    seen: list[Seen] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)

    def url(self, path: str, *, scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


def _handler(endpoint: Endpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            endpoint.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            if self.path == "/slow":
                time.sleep(SLOW)
            if self.path == "/drip":  # a byte of its headers every half second: no read times out
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                for _ in range(int(SLOW * 2)):
                    self.wfile.write(b"X-Drip: 1\r\n")
                    self.wfile.flush()
                    time.sleep(0.5)
                return
            status, extra, payload = {
                "/error": (500, {}, b"boom"),
                "/redirect": (302, {"Location": endpoint.url("/ok")}, b""),
                "/big": (200, {}, b"x" * (1024 * 1024)),
            }.get(self.path, (200, {}, b"ok"))
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            try:
                self.wfile.write(payload)
            except OSError:
                pass  # the poster stops reading after 64 KiB and hangs up

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@dataclass(frozen=True)
class Certificates:
    ca_file: Path
    cert_file: Path
    key_file: Path


def _serve(endpoint_context: ssl.SSLContext | None) -> Iterator[Endpoint]:
    endpoint = Endpoint(port=0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(endpoint))
    server.daemon_threads = True
    server.block_on_close = False  # the slow handler may still sleep at teardown
    if endpoint_context is not None:
        endpoint_context.sni_callback = lambda sock, name, ctx: endpoint.server_names.append(name)
        server.socket = endpoint_context.wrap_socket(server.socket, server_side=True)
    endpoint.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    yield from _serve(None)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A test CA and a certificate it signed for hooks.test."""
    folder = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "batchcalls test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hooks.test")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("hooks.test")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = Certificates(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    files.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return files


@pytest.fixture
def tls_endpoint(certificates: Certificates, monkeypatch: pytest.MonkeyPatch) -> Iterator[Endpoint]:
    """An https endpoint whose certificate is for hooks.test; the poster trusts the test CA
    (OpenSSL reads SSL_CERT_FILE when urllib3 loads the default trust store)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca_file))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates.cert_file, certificates.key_file)
    yield from _serve(context)


class Resolver:
    """A DNS stub: ``names`` → addresses; records every lookup."""

    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names = names
        self.lookups: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append((host, port))
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.names[host]


@pytest.fixture
def no_connections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Connection pools that record instead of connecting: a refused post must open none."""
    opened: list[str] = []

    def forbidden(host: str, *args: Any, **kwargs: Any) -> Any:
        opened.append(host)
        raise AssertionError(f"connected to {host}")

    monkeypatch.setattr(webhook_http.urllib3, "HTTPSConnectionPool", forbidden)
    monkeypatch.setattr(webhook_http.urllib3, "HTTPConnectionPool", forbidden)
    return opened


def private_poster(resolve: Resolver | None = None) -> WebhookPoster:
    return WebhookPoster(allow_private=True, timeout_seconds=TIMEOUT, resolve=resolve)


# ---------------------------------------------------------------- answers


def test_a_delivery_reaches_the_endpoint_with_its_body_and_headers(endpoint: Endpoint) -> None:
    result = private_poster().post(endpoint.url("/ok?x=1"), BODY, HEADERS)
    assert result == PostResult(status_code=200, latency_ms=result.latency_ms, error=None, refused=False)
    [seen] = endpoint.seen
    assert seen.path == "/ok?x=1"
    assert seen.body == BODY
    assert {name: seen.headers[name] for name in HEADERS} == HEADERS
    assert seen.headers["host"] == f"127.0.0.1:{endpoint.port}"
    assert seen.headers["content-length"] == str(len(BODY.encode()))


def test_the_host_header_names_the_host_not_the_address(endpoint: Endpoint) -> None:
    resolve = Resolver({"hooks.test": ["127.0.0.1"]})
    result = private_poster(resolve).post(
        endpoint.url("/ok", host="hooks.test"), BODY, {**HEADERS, "Host": "x"}
    )
    assert result.status_code == 200
    assert endpoint.seen[0].headers["host"] == f"hooks.test:{endpoint.port}"
    assert resolve.lookups == [("hooks.test", endpoint.port)]  # one lookup: no second one to connect


def test_a_server_error_comes_back_as_its_status(endpoint: Endpoint) -> None:
    result = private_poster().post(endpoint.url("/error"), BODY, HEADERS)
    assert (result.status_code, result.error, result.refused) == (500, None, False)


def test_a_redirect_is_returned_not_followed(endpoint: Endpoint) -> None:
    result = private_poster().post(endpoint.url("/redirect"), BODY, HEADERS)
    assert result.status_code == 302
    assert [seen.path for seen in endpoint.seen] == ["/redirect"]


def test_a_large_answer_is_read_only_in_part(endpoint: Endpoint) -> None:
    result = private_poster().post(endpoint.url("/big"), BODY, HEADERS)
    assert (result.status_code, result.error) == (200, None)


def test_a_slow_endpoint_times_out_within_the_timeout(endpoint: Endpoint) -> None:
    started = time.monotonic()
    result = private_poster().post(endpoint.url("/slow"), BODY, HEADERS)
    elapsed = time.monotonic() - started
    assert (result.status_code, result.error, result.refused) == (None, "timeout", False)
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + 1.0 < SLOW
    assert TIMEOUT * 900 <= result.latency_ms <= elapsed * 1000 + 1


def test_a_receiver_dripping_its_answer_is_cut_off_at_the_timeout(endpoint: Endpoint) -> None:
    started = time.monotonic()
    result = private_poster().post(endpoint.url("/drip"), BODY, HEADERS)
    assert (result.status_code, result.error) == (None, "timeout")
    assert time.monotonic() - started < TIMEOUT + 1.0 < SLOW


def test_a_closed_port_is_a_connection_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = private_poster().post(f"http://127.0.0.1:{port}/ok", BODY, HEADERS)
    assert (result.status_code, result.error, result.refused) == (None, "connection refused", False)


def test_a_name_that_does_not_resolve_is_an_error_not_a_refusal() -> None:
    result = private_poster(Resolver({})).post("http://nowhere.test/ok", BODY, HEADERS)
    assert (result.status_code, result.refused) == (None, False)
    assert result.error == "could not resolve the host name nowhere.test"


def test_the_default_resolver_gives_each_address_once() -> None:
    assert resolve_host("127.0.0.1", 80) == ["127.0.0.1"]


# ---------------------------------------------------------------- refusals


def test_loopback_is_refused_without_allow_private(endpoint: Endpoint, no_connections: list[str]) -> None:
    poster = WebhookPoster(allow_private=False, timeout_seconds=TIMEOUT)
    result = poster.post(endpoint.url("/ok", scheme="https"), BODY, HEADERS)
    assert (result.status_code, result.refused) == (None, True)
    assert result.error == "webhook url resolves to 127.0.0.1, a loopback address"
    assert endpoint.seen == []
    assert no_connections == []


def test_http_is_refused_without_allow_private(endpoint: Endpoint, no_connections: list[str]) -> None:
    result = WebhookPoster(allow_private=False).post(endpoint.url("/ok"), BODY, HEADERS)
    assert (result.refused, result.error) == (True, "webhook url must use https")


def test_a_name_resolving_to_the_metadata_service_is_refused_without_connecting(
    no_connections: list[str],
) -> None:
    resolve = Resolver({"example.com": ["169.254.169.254"]})
    poster = WebhookPoster(allow_private=False, timeout_seconds=TIMEOUT, resolve=resolve)
    result = poster.post("https://example.com/hook", BODY, HEADERS)
    assert result.refused is True
    assert result.status_code is None
    assert (
        result.error is not None and "169.254.169.254" in result.error and "metadata service" in result.error
    )
    assert resolve.lookups == [("example.com", 443)]
    assert no_connections == []


def test_one_private_address_among_public_ones_refuses_them_all(no_connections: list[str]) -> None:
    resolve = Resolver({"example.com": ["93.184.216.34", "10.0.0.7"]})
    result = WebhookPoster(allow_private=False, resolve=resolve).post("https://example.com/", BODY, HEADERS)
    assert result.refused is True
    assert result.error == "webhook url resolves to 10.0.0.7, a private address"
    assert no_connections == []


def test_check_refuses_what_post_would_refuse(no_connections: list[str]) -> None:
    poster = WebhookPoster(allow_private=False, resolve=Resolver({"example.com": ["fd00:ec2::254"]}))
    with pytest.raises(UnsafeWebhookUrl, match="metadata service"):
        poster.check("https://example.com/hook")
    with pytest.raises(UnsafeWebhookUrl, match="does not resolve"):
        poster.check("https://nowhere.example.com/hook")
    with pytest.raises(UnsafeWebhookUrl, match="must use https"):
        poster.check("http://example.com/hook")
    assert no_connections == []


def test_check_gives_the_target_of_a_safe_url() -> None:
    poster = WebhookPoster(allow_private=False, resolve=Resolver({"example.com": ["93.184.216.34"]}))
    target = poster.check("https://example.com:8443/hook?a=1")
    assert (target.host, target.port, target.path) == ("example.com", 8443, "/hook?a=1")


# ---------------------------------------------------------------- TLS


def test_https_connects_to_the_address_and_verifies_the_name(tls_endpoint: Endpoint) -> None:
    resolve = Resolver({"hooks.test": ["127.0.0.1"]})
    result = private_poster(resolve).post(
        tls_endpoint.url("/ok", scheme="https", host="hooks.test"), BODY, HEADERS
    )
    assert (result.status_code, result.error) == (200, None)
    assert tls_endpoint.server_names == ["hooks.test"]  # SNI: the name, not the address
    assert tls_endpoint.seen[0].headers["host"] == f"hooks.test:{tls_endpoint.port}"


def test_a_certificate_for_another_name_is_refused(tls_endpoint: Endpoint) -> None:
    resolve = Resolver({"other.test": ["127.0.0.1"]})
    result = private_poster(resolve).post(
        tls_endpoint.url("/ok", scheme="https", host="other.test"), BODY, HEADERS
    )
    assert (result.status_code, result.refused) == (None, False)
    assert result.error is not None and result.error.startswith("tls error")
    assert tls_endpoint.server_names == ["other.test"]
    assert tls_endpoint.seen == []


def test_an_untrusted_certificate_is_refused(tls_endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent/ca.pem")  # the test CA is no longer trusted
    resolve = Resolver({"hooks.test": ["127.0.0.1"]})
    result = private_poster(resolve).post(
        tls_endpoint.url("/ok", scheme="https", host="hooks.test"), BODY, HEADERS
    )
    assert result.status_code is None
    assert result.error is not None and "certificate verify failed" in result.error
    assert tls_endpoint.seen == []
