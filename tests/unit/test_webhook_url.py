"""Which webhook URLs and addresses we post to: https to public addresses only, unless
allow_private (the offline stack); every private, loopback, link-local, shared, multicast or
reserved address is refused, also in its IPv6 disguises (mapped, NAT64, 6to4)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchcalls.domain.webhook_url import (
    MAX_URL_LENGTH,
    UnsafeWebhookUrl,
    WebhookTarget,
    check_address,
    check_url,
)

REFUSED_NETWORKS = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "192.0.2.0/24",
    "198.18.0.0/15",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::1/128",
    "fe80::/10",
    "fc00::/7",
    "fec0::/10",
    "ff00::/8",
    "2001:db8::/32",
]
PUBLIC_NETWORKS = ["8.0.0.0/8", "1.0.0.0/8", "151.101.0.0/16", "2606:4700::/32", "2a00:1450::/32"]


def addresses_in(network: str) -> st.SearchStrategy[str]:
    net = ipaddress.ip_network(network)
    first = int(net.network_address)
    return st.integers(first, first + net.num_addresses - 1).map(lambda n: str(ipaddress.ip_address(n)))


def refused(ip: str) -> bool:
    try:
        check_address(ip, allow_private=False)
    except UnsafeWebhookUrl:
        return True
    return False


# ---------------------------------------------------------------- addresses


@pytest.mark.parametrize("network", REFUSED_NETWORKS)
@given(data=st.data())
def test_every_address_of_a_non_public_network_is_refused(network: str, data: st.DataObject) -> None:
    assert refused(data.draw(addresses_in(network)))


@given(st.sampled_from(PUBLIC_NETWORKS).flatmap(addresses_in))
def test_public_addresses_are_allowed(ip: str) -> None:
    assert not refused(ip)


@given(st.sampled_from(REFUSED_NETWORKS[:11]).flatmap(addresses_in))
def test_ipv6_forms_of_a_refused_ipv4_address_are_refused(ip: str) -> None:
    packed = int(ipaddress.IPv4Address(ip))
    mapped = ipaddress.IPv6Address((0xFFFF << 32) | packed)
    nat64 = ipaddress.IPv6Address((0x64FF9B << 96) | packed)
    sixtofour = ipaddress.IPv6Address((0x2002 << 112) | (packed << 80))
    assert refused(str(mapped))
    assert refused(str(nat64))
    assert refused(str(sixtofour))


@given(st.sampled_from(PUBLIC_NETWORKS[:3]).flatmap(addresses_in))
def test_ipv6_forms_of_a_public_ipv4_address_are_judged_by_it(ip: str) -> None:
    packed = int(ipaddress.IPv4Address(ip))
    assert not refused(str(ipaddress.IPv6Address((0xFFFF << 32) | packed)))
    assert not refused(str(ipaddress.IPv6Address((0x64FF9B << 96) | packed)))


@given(st.ip_addresses().map(str))
def test_allow_private_allows_any_address(ip: str) -> None:
    check_address(ip, allow_private=True)


@pytest.mark.parametrize(
    ("ip", "words"),
    [
        ("169.254.169.254", "169.254.169.254, a link-local address (the metadata service)"),
        ("::ffff:169.254.169.254", "a link-local address (the metadata service)"),
        ("fd00:ec2::254", "a private address (the metadata service)"),
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("100.64.0.1", "a shared (carrier-grade NAT) address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("239.1.1.1", "a multicast address"),
        ("255.255.255.255", "a reserved address"),
        ("fe80::1%eth0", "a link-local address"),
    ],
)
def test_the_refusal_names_the_address_and_why(ip: str, words: str) -> None:
    with pytest.raises(UnsafeWebhookUrl, match=r"^webhook url resolves to ") as caught:
        check_address(ip, allow_private=False)
    assert words in str(caught.value)


def test_something_that_is_not_an_address_is_refused() -> None:
    with pytest.raises(UnsafeWebhookUrl, match="not an IP address"):
        check_address("example.com", allow_private=True)


def test_the_refusal_is_a_value_error() -> None:
    assert issubclass(UnsafeWebhookUrl, ValueError)


# ---------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("https://hooks.example.com/in", WebhookTarget("https", "hooks.example.com", 443, "/in")),
        ("https://Hooks.Example.COM", WebhookTarget("https", "hooks.example.com", 443, "/")),
        (
            "HTTPS://hooks.example.com:8443/a/b?x=1&y=2",
            WebhookTarget("https", "hooks.example.com", 8443, "/a/b?x=1&y=2"),
        ),
        ("https://8.8.8.8/hook", WebhookTarget("https", "8.8.8.8", 443, "/hook")),
        ("https://[2606:4700::1111]:444/", WebhookTarget("https", "2606:4700::1111", 444, "/")),
        (
            "https://bücher.example/ä?q=ö",
            WebhookTarget("https", "xn--bcher-kva.example", 443, "/%C3%A4?q=%C3%B6"),
        ),
        ("https://hooks.example.com./x", WebhookTarget("https", "hooks.example.com.", 443, "/x")),
    ],
)
def test_a_safe_url_gives_its_target(url: str, target: WebhookTarget) -> None:
    assert check_url(url, allow_private=False) == target


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://hooks.example.com/in", "must use https"),
        ("ftp://hooks.example.com/in", "must use https"),
        ("hooks.example.com/in", "must use https"),
        ("https:///in", "must name a host"),
        ("https://user:pw@hooks.example.com/", "user name or password"),
        ("https://user@hooks.example.com/", "user name or password"),
        ("https://hooks.example.com:99999/", "invalid port"),
        ("https://hooks.example.com:0/", "invalid port"),
        ("https://hooks.example.com:https/", "invalid port"),
        ("https://hooks.example.com/in#part", "fragment"),
        ("https://hooks.example.com/in#", "fragment"),
        ("https://hooks.example.com/i n", "spaces or control characters"),
        ("https://hooks.example.com/\tin", "spaces or control characters"),
        ("https://hooks.exa\nmple.com/in", "spaces or control characters"),
        ("https://127.0.0.1/in", "a loopback address"),
        ("https://[::ffff:127.0.0.1]/in", "a loopback address"),
        ("https://169.254.169.254/latest/meta-data/", "the metadata service"),
        ("https://2130706433/", "not a plain one"),  # 127.0.0.1 to the C resolver
        ("https://0x7f.1/", "not a plain one"),
        ("https://127.1/", "not a plain one"),
        ("https://010.0.0.1/", "not a plain one"),  # octal 8.0.0.1 to the C resolver
        ("https://localhost/in", "localhost"),
        ("https://api.localhost./in", "localhost"),
        ("https://hooks_example.com\\@evil/", "user name or password"),
        ("https://hooks.example.com\\evil/", "not a valid host name"),
        ("https://" + "a" * 64 + ".example.com/", "not a valid host name"),  # a label over 63: IDNA refuses
        ("https://hooks.example.com/" + "a" * MAX_URL_LENGTH, f"at most {MAX_URL_LENGTH} characters"),
    ],
)
def test_an_unsafe_url_is_refused_with_a_sentence(url: str, words: str) -> None:
    with pytest.raises(UnsafeWebhookUrl, match=r"^webhook url ") as caught:
        check_url(url, allow_private=False)
    assert words in str(caught.value)


def test_a_url_of_exactly_the_maximum_length_is_allowed() -> None:
    base = "https://hooks.example.com/"
    url = base + "a" * (MAX_URL_LENGTH - len(base))
    assert check_url(url, allow_private=False).path == url.removeprefix(base[:-1])


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("http://127.0.0.1:8080/hook", WebhookTarget("http", "127.0.0.1", 8080, "/hook")),
        ("http://localhost/hook", WebhookTarget("http", "localhost", 80, "/hook")),
        ("https://10.0.0.5/hook", WebhookTarget("https", "10.0.0.5", 443, "/hook")),
    ],
)
def test_allow_private_allows_http_and_private_hosts(url: str, target: WebhookTarget) -> None:
    assert check_url(url, allow_private=True) == target
    with pytest.raises(UnsafeWebhookUrl):
        check_url(url, allow_private=False)


def test_allow_private_still_refuses_other_schemes() -> None:
    with pytest.raises(UnsafeWebhookUrl, match="must use https"):
        check_url("ftp://127.0.0.1/", allow_private=True)


@given(addresses_in("10.0.0.0/8"))
def test_every_10_8_literal_url_is_refused(ip: str) -> None:
    with pytest.raises(UnsafeWebhookUrl, match="a private address"):
        check_url(f"https://{ip}/hook", allow_private=False)
