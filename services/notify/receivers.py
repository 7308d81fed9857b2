"""Where notify may send webhooks: a guard against server-side request forgery.

A subscriber chooses the URL notify POSTs to, so without a guard a subscription could reach
what only the server can: the cloud metadata endpoint (169.254.169.254), services on
localhost, the internal network. A receiver's host must resolve to public addresses only;
loopback and private networks are allowed when CHANGEWARD_NOTIFY_ALLOW_PRIVATE_RECEIVERS
says so (an on-prem chat server); link-local, multicast, reserved and unspecified
addresses never are.

The check runs when a subscription is created and again at every delivery, on the
addresses the connection is then made to (DNS may have changed in between).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from shared.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SCHEMES = frozenset({"http", "https"})
ALLOW_PRIVATE_SETTING = "CHANGEWARD_NOTIFY_ALLOW_PRIVATE_RECEIVERS"


class AddressKind(StrEnum):
    PUBLIC = "public"
    LOOPBACK = "loopback"
    PRIVATE = "private"
    LINK_LOCAL = "link-local"
    MULTICAST = "multicast"
    RESERVED = "reserved"
    UNSPECIFIED = "unspecified"


# What CHANGEWARD_NOTIFY_ALLOW_PRIVATE_RECEIVERS lets through.
_PRIVATE_KINDS = frozenset({AddressKind.LOOPBACK, AddressKind.PRIVATE})


class ReceiverRefused(Exception):
    """A receiver notify will not send to; the message says why."""


def address_kind(address: IPAddress) -> AddressKind:
    """What kind of destination `address` is (an IPv4-mapped IPv6 address as its IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    # Order matters: 0.0.0.0, 169.254.0.0/16 and 240.0.0.0/4 count as private too.
    if address.is_unspecified:
        return AddressKind.UNSPECIFIED
    if address.is_loopback:
        return AddressKind.LOOPBACK
    if address.is_link_local:
        return AddressKind.LINK_LOCAL
    if address.is_multicast:
        return AddressKind.MULTICAST
    if address.is_reserved:
        return AddressKind.RESERVED
    if address.is_private or not address.is_global:
        return AddressKind.PRIVATE
    return AddressKind.PUBLIC


@dataclass(frozen=True)
class ReceiverPolicy:
    allow_private: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> ReceiverPolicy:
        return cls(allow_private=settings.notify_allow_private_receivers)

    def allows(self, kind: AddressKind) -> bool:
        return kind is AddressKind.PUBLIC or (self.allow_private and kind in _PRIVATE_KINDS)

    def check_addresses(self, host: str, addresses: Sequence[IPAddress]) -> None:
        """Raise ReceiverRefused unless every address `host` resolved to is allowed."""
        for address in addresses:
            kind = address_kind(address)
            if not self.allows(kind):
                raise ReceiverRefused(self._refusal(host, address, kind))

    def check_url(self, url: str) -> tuple[str, int]:
        """The URL's host and port, once its scheme and (for a literal) address pass."""
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES:
            raise ReceiverRefused(
                f"only http and https receivers are allowed, not {parts.scheme!r}"
            )
        host = (parts.hostname or "").rstrip(".").lower()
        if not host:
            raise ReceiverRefused("the URL has no host")
        if host == "localhost" or host.endswith(".localhost"):
            # Loopback by definition (RFC 6761), whatever a resolver says.
            self.check_addresses(host, [ipaddress.IPv4Address("127.0.0.1")])
        literal = _literal_address(host)
        if literal is not None:
            self.check_addresses(host, [literal])
        return host, parts.port or (443 if parts.scheme == "https" else 80)

    async def vetted_addresses(self, host: str, port: int) -> list[IPAddress]:
        """Resolve `host`; its addresses, once every one of them is allowed."""
        addresses = await resolve(host, port)
        if not addresses:
            raise OSError(f"{host} resolves to no address")
        self.check_addresses(host, addresses)
        return addresses

    async def check_receiver(self, url: str, *, resolve_timeout: float) -> None:
        """What a subscription's URL is checked for when it is created.

        A name that does not resolve now passes: the receiver may not be up yet, and every
        delivery checks again before it connects.
        """
        host, port = self.check_url(url)
        try:
            await asyncio.wait_for(self.vetted_addresses(host, port), resolve_timeout)
        except (OSError, TimeoutError):
            return

    def _refusal(self, host: str, address: IPAddress, kind: AddressKind) -> str:
        what = f"a {kind.value} address"
        where = f"{address} is {what}" if host == str(address) else f"{host} is {address}, {what}"
        reason = f"{where}, which notify does not send to"
        if kind in _PRIVATE_KINDS:
            reason += f" unless {ALLOW_PRIVATE_SETTING} is true"
        return reason


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (a literal address is itself), first one first."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # An IPv6 sockaddr may carry a zone ("fe80::1%eth0"); the zone is not the address.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
