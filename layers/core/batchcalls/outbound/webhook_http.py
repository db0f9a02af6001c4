"""Posts one webhook delivery to a user's endpoint, safely: the URL and every address its host
resolves to are checked (domain/webhook_url.py), then we connect to a checked address ourselves,
so DNS cannot answer differently between the check and the connection (DNS rebinding). TLS is
still verified against the host name (SNI and certificate), not the address.

urllib3 connection pools are used directly (not a PoolManager, nor requests): they take the
address to connect to apart from the name to verify, follow no redirects, and read no proxy
settings from the environment. Network problems never raise: they come back in PostResult.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import urllib3
from urllib3.exceptions import (
    HTTPError,
    NewConnectionError,
    ProtocolError,
    SSLError,
)
from urllib3.exceptions import (
    TimeoutError as Urllib3Timeout,
)

from batchcalls.domain.webhook_url import (
    DEFAULT_PORTS,
    UnsafeWebhookUrl,
    WebhookTarget,
    check_address,
    check_url,
)

MAX_RESPONSE_BYTES = 64 * 1024  # read and thrown away: only the status matters
DEADLINE_SLACK_SECONDS = 0.5  # past the timeout, the whole attempt is given up
MAX_ERROR_LENGTH = 200

Resolver = Callable[[str, int], list[str]]


@dataclass(frozen=True)
class PostResult:
    """One attempt: the status (None when no answer came), how long it took, what went wrong,
    and whether we refused to send it at all (an unsafe URL or address)."""

    status_code: int | None
    latency_ms: int
    error: str | None
    refused: bool = False


def resolve_host(host: str, port: int) -> list[str]:
    """The host's addresses (IPv4 and IPv6), each once, in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class WebhookPoster:
    """Sends webhook requests. ``allow_private`` (the offline stack, tests) lets http and
    private addresses through; ``resolve`` replaces DNS (tests)."""

    def __init__(
        self,
        *,
        allow_private: bool,
        timeout_seconds: float = 5.0,
        resolve: Resolver | None = None,
    ) -> None:
        self._allow_private = allow_private
        self._timeout_seconds = timeout_seconds
        self._resolve = resolve or resolve_host

    def check(self, url: str) -> WebhookTarget:
        """``url``'s target if we would post to it now (its scheme, its host, every address the
        host resolves to); UnsafeWebhookUrl otherwise, also when the host does not resolve."""
        target = check_url(url, allow_private=self._allow_private)
        try:
            self._checked_address(target)
        except (OSError, UnicodeError) as exc:
            raise UnsafeWebhookUrl(f"webhook url host {target.host} does not resolve") from exc
        return target

    def post(self, url: str, body: str, headers: Mapping[str, str]) -> PostResult:
        """POST ``body`` to ``url`` once; never raises for a bad URL or a network problem."""
        started = time.monotonic()
        try:
            target = check_url(url, allow_private=self._allow_private)
            address = self._checked_address(target)
        except UnsafeWebhookUrl as exc:
            return PostResult(None, _elapsed_ms(started), str(exc), refused=True)
        except (OSError, UnicodeError):
            # check_url raises neither: ``target`` is set. Not refused: DNS may answer next time.
            return PostResult(None, _elapsed_ms(started), f"could not resolve the host name {target.host}")
        status_code, error = self._send_within_deadline(target, address, body, headers)
        return PostResult(status_code, _elapsed_ms(started), error)

    def _send_within_deadline(
        self, target: WebhookTarget, address: str, body: str, headers: Mapping[str, str]
    ) -> tuple[int | None, str | None]:
        """``_send`` cut off at the timeout: urllib3's timeouts bound each socket operation,
        so a receiver dripping a byte a second would otherwise hold the sender until its
        Lambda is killed (and the attempt is never recorded). The abandoned thread ends with
        its socket timeout."""
        answer: list[tuple[int | None, str | None]] = []
        worker = threading.Thread(
            target=lambda: answer.append(self._send(target, address, body, headers)), daemon=True
        )
        worker.start()
        worker.join(self._timeout_seconds + DEADLINE_SLACK_SECONDS)
        return answer[0] if answer else (None, "timeout")

    def _checked_address(self, target: WebhookTarget) -> str:
        """The address to connect to, once every address of the host passed the check."""
        if _is_ip(target.host):
            return target.host  # check_url checked it
        addresses = self._resolve(target.host, target.port)
        if not addresses:
            raise OSError(f"{target.host} has no address")
        for address in addresses:
            # One bad address refuses them all: a resolver may hand them out in any order.
            check_address(address, allow_private=self._allow_private)
        return addresses[0]

    def _send(
        self, target: WebhookTarget, address: str, body: str, headers: Mapping[str, str]
    ) -> tuple[int | None, str | None]:
        timeout = urllib3.Timeout(total=self._timeout_seconds)
        pool = _pool(target, address, timeout)
        sent_headers = {name: value for name, value in headers.items() if name.lower() != "host"}
        sent_headers["host"] = _host_header(target)
        try:
            response = pool.urlopen(
                "POST",
                target.path,
                body=body.encode(),
                headers=sent_headers,
                retries=False,
                redirect=False,
                timeout=timeout,
                preload_content=False,
                release_conn=False,
            )
        except (HTTPError, OSError) as exc:
            pool.close()
            return None, _describe(exc)
        try:
            # Some of the answer is read so the receiver is not cut off mid-write; a stall or a
            # broken connection there does not change the status it gave.
            response.read(MAX_RESPONSE_BYTES, decode_content=False)
        except (HTTPError, OSError):
            pass
        finally:
            response.close()
            pool.close()
        return response.status, None


def _pool(target: WebhookTarget, address: str, timeout: urllib3.Timeout) -> urllib3.HTTPConnectionPool:
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            address,
            target.port,
            timeout=timeout,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    return urllib3.HTTPConnectionPool(address, target.port, timeout=timeout, retries=False)


def _host_header(target: WebhookTarget) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == DEFAULT_PORTS[target.scheme] else f"{host}:{target.port}"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _describe(exc: BaseException) -> str:
    """A short sentence for a failed attempt (stored with the delivery, shown to the user)."""
    if isinstance(exc, NewConnectionError):
        if isinstance(exc.__cause__, ConnectionRefusedError):
            return "connection refused"
        return _short(f"could not connect: {exc.__cause__ or exc}")
    if isinstance(exc, Urllib3Timeout | socket.timeout):
        return "timeout"
    if isinstance(exc, SSLError):
        return _short(f"tls error: {exc.__cause__ or exc}")
    if isinstance(exc, ProtocolError):
        return "connection closed before a response"
    return _short(f"request failed: {exc}")


def _short(text: str) -> str:
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
