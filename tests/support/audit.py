"""The audit service on its own, fed events the way the bus delivers them."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

from services.audit.app import create_app
from shared.bus import Message
from shared.embedded_postgres import free_port
from shared.events import CloudEvent
from shared.settings import Settings
from tests.support.clients import Tokens


@dataclass
class AuditStack:
    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings
    database_url: str
    auditor: dict[str, str]

    async def publish(self, *events: CloudEvent) -> None:
        """Deliver `events` through the bus to the ledger's consumer, as the relays would."""
        await self.app.state.bus.publish(
            [
                Message(topic=self.settings.changes_topic, key=e.subject, value=e.to_json())
                for e in events
            ]
        )


def signing_key_text() -> str:
    seed = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(seed).decode()


@asynccontextmanager
async def audit_stack(
    database_url: str, tokens: Tokens, data_dir: Path, **overrides: Any
) -> AsyncIterator[AuditStack]:
    options: dict[str, Any] = {
        "relay_idle_poll_seconds": 0.2,
        "tree_head_interval_seconds": 0.2,
        **overrides,
    }
    settings = Settings(
        database_url=database_url,
        jwt_secret=tokens.secret,
        data_dir=data_dir,
        audit_signing_key=signing_key_text(),
        **options,
    )
    app = create_app(settings, database_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://audit") as client:
            yield AuditStack(app, client, settings, database_url, tokens.headers("ava", "auditor"))


@asynccontextmanager
async def served(stack: AuditStack) -> AsyncIterator[str]:
    """The stack's app on a real socket, for a CLI to call; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(stack.app, host="127.0.0.1", port=port, lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                raise RuntimeError(f"the server stopped before it started: {serving!r}")
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


def change_event(
    subject: str | None = None,
    *,
    event_type: str = "change.requested",
    sequence: int = 1,
    actor: str = "rita",
    data: dict[str, Any] | None = None,
) -> CloudEvent:
    return CloudEvent(
        source="/changeward/intake",
        type=f"io.changeward.{event_type}",
        subject=subject or str(uuid.uuid4()),
        sequence=sequence,
        actor=actor,
        data=data if data is not None else {"note": f"event {uuid.uuid4().hex[:8]}"},
    )
