"""The HTTP client deliveries go out through: it connects only to addresses the receiver
policy allows, checked on the very addresses it connects to, after resolving the host
itself, so a name re-pointed at an internal address after its subscription was created
(DNS rebinding) is refused at delivery. TLS is still verified against the URL's host name.
"""

from __future__ import annotations

from collections.abc import Iterable

import anyio
import httpcore
import httpx

from services.notify.receivers import ReceiverPolicy, ReceiverRefused

USER_AGENT = "Changeward-Notify/0.1"


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore's own backend, behind a resolve-and-check of the host it is asked for."""

    def __init__(self, policy: ReceiverPolicy) -> None:
        self._policy = policy
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await self._policy.vetted_addresses(host, port)
        except TimeoutError as error:
            raise httpcore.ConnectTimeout(f"resolving {host} took too long") from error
        except (ReceiverRefused, OSError) as error:
            raise httpcore.ConnectError(f"refused: {error}") from error
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            try:
                return await self._backend.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("a receiver is never a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport on a connection pool whose connections go through the guard."""

    def __init__(self, policy: ReceiverPolicy) -> None:
        super().__init__()
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        # httpx builds its pool in __init__ and offers no way to pass a network backend.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedNetworkBackend(policy),
        )


def delivery_client(policy: ReceiverPolicy, *, timeout: float) -> httpx.AsyncClient:
    """Never follows redirects (a redirect could lead anywhere) and ignores proxy variables."""
    return httpx.AsyncClient(
        transport=GuardedTransport(policy),
        timeout=timeout,
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    )
