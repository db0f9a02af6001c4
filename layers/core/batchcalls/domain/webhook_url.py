"""Which webhook URLs we post to: https to a public address, nothing that reaches inside our own
network (server-side request forgery: the metadata service, loopback, private ranges).

Two checks, because a name is not an address: ``check_url`` when a webhook is saved (and again
before each delivery), ``check_address`` on every address the host resolves to, right before
connecting to one of them (outbound/webhook_http.py). Pure: urllib.parse and ipaddress only.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import SplitResult, quote, urlsplit

MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"https": 443, "http": 80}
# What stays as written in a path: printable ASCII; anything else is percent-encoded.
_PATH_SAFE = "".join(chr(code) for code in range(0x21, 0x7F))
# A host name after IDNA: letters, digits, '-', '_' (seen in real DNS names), dots.
_HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")
# A last label like these is never a top-level domain, but the C resolver reads it as an IPv4
# address in a legacy form (2130706433, 0x7f.1, 127.1 = 127.0.0.1): such hosts must be dotted quads.
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT; neither private nor global here
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeWebhookUrl(ValueError):
    """A webhook URL (or an address its host resolves to) we will not post to; the message is a
    sentence for the user."""


@dataclass(frozen=True)
class WebhookTarget:
    """Where a checked URL points: ``host`` is lowercase ASCII (IDNA), without brackets for
    IPv6; ``path`` starts with '/' and includes the query."""

    scheme: str
    host: str
    port: int
    path: str


def check_url(url: str, *, allow_private: bool) -> WebhookTarget:
    """The target of ``url``, or UnsafeWebhookUrl. ``allow_private`` (the offline stack, tests)
    also allows http and private addresses."""
    _check_text(url)
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # "Invalid IPv6 URL": a bracket not closed, not an address
        raise UnsafeWebhookUrl(f"webhook url is not a valid URL: {exc}") from exc
    after_host = parts.netloc.rpartition("@")[2].partition("]")[2] if "[" in parts.netloc else ""
    if after_host[:1] not in ("", ":"):
        raise UnsafeWebhookUrl("webhook url has text after its IPv6 address")
    scheme = parts.scheme.lower()
    if scheme != "https" and not (allow_private and scheme == "http"):
        raise UnsafeWebhookUrl("webhook url must use https")
    if "@" in parts.netloc:
        raise UnsafeWebhookUrl("webhook url must not contain a user name or password")
    host = _check_host(parts.hostname, allow_private=allow_private)
    port = _check_port(parts, scheme)
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        path += "?" + quote(parts.query, safe=_PATH_SAFE)
    return WebhookTarget(scheme=scheme, host=host, port=port, path=path)


def check_address(ip: str, *, allow_private: bool) -> None:
    """Refuse (UnsafeWebhookUrl) an address that is not a public unicast one, unless
    ``allow_private``. IPv6 forms that carry an IPv4 address are judged by that address."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError as exc:
        raise UnsafeWebhookUrl(f"webhook url resolves to {ip!r}, which is not an IP address") from exc
    if allow_private:
        return
    embedded = _embedded_ipv4(address)
    judged = address if embedded is None else embedded
    kind = _unsafe_kind(judged)
    if kind:
        metadata = " (the metadata service)" if judged in _METADATA else ""
        raise UnsafeWebhookUrl(f"webhook url resolves to {ip}, {kind}{metadata}")


def _check_text(url: str) -> None:
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeWebhookUrl(f"webhook url must be at most {MAX_URL_LENGTH} characters")
    # urlsplit drops tabs and newlines silently; a URL that reads differently from what we
    # send is refused rather than cleaned.
    if any(char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        raise UnsafeWebhookUrl("webhook url must not contain spaces or control characters")
    if "#" in url:
        raise UnsafeWebhookUrl("webhook url must not have a fragment (#...): it is never sent")


def _check_port(parts: SplitResult, scheme: str) -> int:
    try:
        port = parts.port  # ValueError when not a number in 0-65535
    except ValueError as exc:
        raise UnsafeWebhookUrl("webhook url has an invalid port") from exc
    if port is None:
        return DEFAULT_PORTS[scheme]
    if port == 0:
        raise UnsafeWebhookUrl("webhook url has an invalid port")
    return port


def _check_host(hostname: str | None, *, allow_private: bool) -> str:
    if not hostname:
        raise UnsafeWebhookUrl("webhook url must name a host")
    literal = _ip_literal(hostname)
    if literal is not None:
        check_address(literal, allow_private=allow_private)
        return literal
    try:
        host = hostname.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise UnsafeWebhookUrl("webhook url host is not a valid host name") from exc
    if not _HOST_NAME.fullmatch(host):
        raise UnsafeWebhookUrl("webhook url host is not a valid host name")
    if _NUMERIC_LABEL.fullmatch(host.rstrip(".").rsplit(".", 1)[-1]):
        raise UnsafeWebhookUrl("webhook url host looks like an IP address but is not a plain one")
    if not allow_private and (host.rstrip(".") == "localhost" or host.rstrip(".").endswith(".localhost")):
        raise UnsafeWebhookUrl("webhook url must not point at localhost")
    return host


def _ip_literal(hostname: str) -> str | None:
    try:
        return str(ipaddress.ip_address(hostname))
    except ValueError:
        return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped ::ffff:a.b.c.d, NAT64, 6to4), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def _unsafe_kind(address: IPAddress) -> str | None:
    """What makes ``address`` unsafe to post to, as words, or None for a public address.
    Ordered from most to least specific, so the sentence names the real reason."""
    checks = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address in _SHARED, "a shared (carrier-grade NAT) address"),
        (isinstance(address, ipaddress.IPv6Address) and address.is_site_local, "a site-local address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "not a public address"),
    )
    return next((kind for unsafe, kind in checks if unsafe), None)
