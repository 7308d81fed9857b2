"""The composition root: builds one FastAPI app from one or several services."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Collection, Coroutine, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from shared.auth import TokenVerifier
from shared.bus import Bus, InProcessBus, KafkaBus
from shared.catalog import catalog_router
from shared.contracts import EventType
from shared.db import Database
from shared.errors import install_error_handlers
from shared.idempotency import idempotency_table_of, run_purger
from shared.inbox import BatchEventHandler, EventHandler, IdempotentConsumer
from shared.observability import RequestContextMiddleware, metrics_endpoint
from shared.openapi import install_openapi
from shared.outbox import OutboxRelay
from shared.settings import Settings
from shared.tables import MessagingTables
from shared.ui import portal_router

log = structlog.get_logger(__name__)


class ProcessRole(StrEnum):
    """What a process runs of its services, so a deployment can scale each part apart."""

    # The HTTP routes (and the purge of expired idempotency keys).
    API = "api"
    # The outbox relays.
    RELAY = "relay"
    # The consumer groups, and background jobs such as the ledger's tree-head signer.
    CONSUMER = "consumer"


ALL_PROCESS_ROLES = frozenset(ProcessRole)


@dataclass(frozen=True)
class ServiceModule:
    """What each service exposes to the composition root."""

    name: str
    router: APIRouter
    tables: MessagingTables
    handlers: Mapping[EventType, EventHandler] = field(default_factory=dict)
    # Receives every event without a handler of its own, even of types this build does
    # not know yet: the audit ledger records everything.
    handle_any: EventHandler | None = None
    # Takes consecutive events in one transaction instead of one transaction each.
    handle_batch: BatchEventHandler | None = None
    # Retry a failing handler until it succeeds instead of recording the event as failed.
    retry_failures: bool = False
    consumes: Callable[[Settings], Sequence[str]] = lambda settings: ()
    description: str = ""
    # Runs for the app's lifetime (cancelled at shutdown), e.g. the ledger's tree-head signer.
    background: Callable[[Database, Settings], Coroutine[Any, Any, None]] | None = None


def consumer_of(service: ServiceModule, database: Database) -> IdempotentConsumer:
    return IdempotentConsumer(
        service.tables,
        database,
        service.handlers,
        handle_any=service.handle_any,
        handle_batch=service.handle_batch,
        retry_failures=service.retry_failures,
    )


def make_bus(settings: Settings) -> Bus:
    if settings.kafka_bootstrap_servers:
        return KafkaBus(settings)
    return InProcessBus()


def build_app(
    services: Sequence[ServiceModule],
    settings: Settings,
    *,
    database_url: str,
    title: str = "Changeward",
    roles: Collection[ProcessRole] = ALL_PROCESS_ROLES,
) -> FastAPI:
    """One app serving `services`' routers, with their relays and consumers in its lifespan.

    `roles` narrows it to some of those parts; health checks and metrics are always served.
    A process without relays or consumers has no broker connection at all.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            database = Database(database_url, pool_size=settings.database_pool_size)
            stack.push_async_callback(database.dispose)
            consumers = ProcessRole.CONSUMER in roles
            bus: Bus | None = None
            if ProcessRole.RELAY in roles or consumers:
                bus = make_bus(settings)
                for service in services if consumers else ():
                    topics = service.consumes(settings)
                    if topics:
                        bus.subscribe(
                            f"changeward-{service.name}", topics, consumer_of(service, database)
                        )
                await bus.start()
                stack.push_async_callback(bus.stop)
            relays = [
                OutboxRelay(s.tables, database, bus, settings)
                for s in services
                if bus is not None and ProcessRole.RELAY in roles
            ]
            tasks = [asyncio.create_task(r.run(), name=f"relay-{r.tables.schema}") for r in relays]
            tasks += [
                asyncio.create_task(s.background(database, settings), name=f"{s.name}-background")
                for s in services
                if s.background is not None and consumers
            ]
            idempotency_tables = [
                table
                for s in services
                if ProcessRole.API in roles
                and (table := idempotency_table_of(s.tables.outbox.metadata)) is not None
            ]
            if idempotency_tables:
                tasks.append(
                    asyncio.create_task(
                        run_purger(database, idempotency_tables, settings),
                        name="idempotency-purger",
                    )
                )
            stack.push_async_callback(_cancel, tasks)
            app.state.database = database
            app.state.bus = bus
            app.state.relays = relays
            log.info(
                "started",
                services=[s.name for s in services],
                roles=sorted(roles),
                bus=type(bus).__name__ if bus is not None else None,
            )
            yield

    app = FastAPI(
        title=title,
        version="0.1.0",
        description="Production change management: " + ", ".join(s.name for s in services),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.token_verifier = TokenVerifier(settings)
    install_error_handlers(app)
    install_openapi(app)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(_health_router())
    if ProcessRole.API in roles:
        app.include_router(catalog_router())
        app.include_router(portal_router())
        for service in services:
            app.include_router(service.router)
    return app


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _health_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="The process is up.")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="The database and the broker are reachable.")
    async def readyz(request: Request) -> JSONResponse:
        database: Database = request.app.state.database
        bus: Bus | None = request.app.state.bus
        checks: dict[str, str] = {}
        try:
            async with asyncio.timeout(2):
                await database.ping()
            checks["database"] = "ok"
        except Exception as error:  # noqa: BLE001 - any failure means not ready
            checks["database"] = f"unreachable: {error!r}"
        if bus is not None:
            checks["broker"] = "ok" if await bus.ready() else "unreachable"
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    router.add_api_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    return router
