"""Which receivers notify sends to: address kinds, URL checks, and the resolve-and-check
that runs before every delivery connects (literal addresses and `localhost` resolve without
any DNS server)."""

from __future__ import annotations

import ipaddress

import pytest

from services.notify.receivers import AddressKind, ReceiverPolicy, ReceiverRefused, address_kind

STRICT = ReceiverPolicy(allow_private=False)
ON_PREM = ReceiverPolicy(allow_private=True)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("8.8.8.8", AddressKind.PUBLIC),
        ("2606:4700:4700::1111", AddressKind.PUBLIC),
        ("127.0.0.1", AddressKind.LOOPBACK),
        ("127.8.9.10", AddressKind.LOOPBACK),
        ("::1", AddressKind.LOOPBACK),
        ("::ffff:127.0.0.1", AddressKind.LOOPBACK),
        ("10.0.0.5", AddressKind.PRIVATE),
        ("172.16.3.4", AddressKind.PRIVATE),
        ("192.168.1.10", AddressKind.PRIVATE),
        ("::ffff:192.168.1.10", AddressKind.PRIVATE),
        ("100.64.0.1", AddressKind.PRIVATE),
        ("fd12:3456::1", AddressKind.PRIVATE),
        ("169.254.169.254", AddressKind.LINK_LOCAL),
        ("fe80::1", AddressKind.LINK_LOCAL),
        ("224.0.0.1", AddressKind.MULTICAST),
        ("ff02::1", AddressKind.MULTICAST),
        ("240.0.0.1", AddressKind.RESERVED),
        ("255.255.255.255", AddressKind.RESERVED),
        ("0.0.0.0", AddressKind.UNSPECIFIED),
        ("::", AddressKind.UNSPECIFIED),
    ],
)
def test_each_address_has_its_kind(address: str, kind: AddressKind) -> None:
    assert address_kind(ipaddress.ip_address(address)) is kind


@pytest.mark.parametrize(
    "host",
    ["localhost", "127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "::ffff:10.0.0.1", "0.0.0.0"],
)
async def test_the_delivery_time_check_refuses_a_host_on_an_internal_address(host: str) -> None:
    with pytest.raises(ReceiverRefused, match="which notify does not send to"):
        await STRICT.vetted_addresses(host, 443)


async def test_the_delivery_time_check_passes_a_public_address_and_returns_it() -> None:
    assert await STRICT.vetted_addresses("8.8.8.8", 443) == [ipaddress.ip_address("8.8.8.8")]


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "10.1.2.3", "fd00::1", "100.64.0.1"])
async def test_allowing_private_receivers_lets_loopback_and_private_networks_through(
    host: str,
) -> None:
    addresses = await ON_PREM.vetted_addresses(host, 80)
    assert addresses
    assert {address_kind(a) for a in addresses} <= {AddressKind.LOOPBACK, AddressKind.PRIVATE}


@pytest.mark.parametrize("host", ["169.254.169.254", "fe80::1", "0.0.0.0", "224.0.0.1", "::"])
async def test_cloud_metadata_and_unroutable_addresses_are_refused_even_on_prem(host: str) -> None:
    with pytest.raises(ReceiverRefused) as refused:
        await ON_PREM.vetted_addresses(host, 80)
    assert "ALLOW_PRIVATE_RECEIVERS" not in str(refused.value)


def test_a_refused_private_address_names_the_setting_that_would_allow_it() -> None:
    with pytest.raises(ReceiverRefused, match="CHANGEWARD_NOTIFY_ALLOW_PRIVATE_RECEIVERS"):
        STRICT.check_url("http://10.0.0.5:8080/hook")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "gopher://example.com/",
        "http:///no-host",
        "http://localhost/hook",
        "http://api.localhost./hook",
        "http://LOCALHOST:9000/hook",
        "http://[::1]:8080/hook",
        "http://[::ffff:7f00:1]/hook",
        "https://169.254.169.254/latest/meta-data/",
    ],
)
def test_urls_refused_before_any_lookup(url: str) -> None:
    with pytest.raises(ReceiverRefused):
        STRICT.check_url(url)


def test_a_public_url_gives_its_host_and_port() -> None:
    assert STRICT.check_url("https://Hooks.Slack.com/services/T/B/X") == ("hooks.slack.com", 443)
    assert STRICT.check_url("http://93.184.215.14:8080/hook") == ("93.184.215.14", 8080)


async def test_a_name_that_does_not_resolve_passes_at_creation_and_waits_for_delivery() -> None:
    await STRICT.check_receiver("https://receiver.invalid/hook", resolve_timeout=5)
    with pytest.raises(OSError):  # noqa: PT011 - any resolver failure; the delivery fails
        await STRICT.vetted_addresses("receiver.invalid", 443)
