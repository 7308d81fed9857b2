"""`Idempotency-Key` for creating POSTs: a retry gets the first response, never a second effect.

An endpoint opts in with `@idempotent(table)` under its route decorator, where
`table` is `idempotency_table(metadata)` in the service's own schema. Then, per
caller (token subject) and key:

- the first request runs and its response (status, body, headers) is stored in
  the same transaction as its effect, so either both commit or neither does;
- a retry with the same body gets the stored response with `Idempotent-Replayed: true`;
- the same key with a different body (or on another route) is a 422;
- a request while the first is still running is a 409 (a transaction-scoped advisory
  lock on the key, taken without waiting, tells);
- a failed request stores nothing, so it may be retried with the same key.

Keys are kept `idempotency_key_ttl_hours` (at least 24 h), then purged by `run_purger`.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Protocol, TypeVar, get_type_hints

import structlog
from fastapi import Depends, Header, Request, Response
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Column,
    Executable,
    Index,
    Integer,
    Interval,
    LargeBinary,
    MetaData,
    Table,
    Text,
    bindparam,
    delete,
    func,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Principal
from shared.db import Database, Session
from shared.errors import Conflict, InvalidRequest
from shared.settings import Settings

log = structlog.get_logger(__name__)

TABLE_NAME = "idempotency_key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Headers that describe the stored body itself; the replay recomputes them.
_UNSTORED_HEADERS = frozenset({"content-length", "content-type"})

Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Any]])


class IdempotencyKeyReused(InvalidRequest):
    code = "idempotency-key-reused"
    title = "The Idempotency-Key was already used with a different request"


class IdempotencyKeyInProgress(Conflict):
    code = "idempotency-key-in-progress"
    title = "A request with this Idempotency-Key is still in progress"


# For the routes' `responses=`.
IDEMPOTENCY_ERRORS = (IdempotencyKeyReused, IdempotencyKeyInProgress)


class ResponseCipher(Protocol):
    """Keeps stored answers that carry a secret (e.g. a webhook signing secret) encrypted."""

    def encrypt(self, data: bytes) -> bytes: ...

    def decrypt(self, token: bytes) -> bytes: ...


def idempotency_table(metadata: MetaData) -> Table:
    """The stored responses of one service, in its own schema."""
    return Table(
        TABLE_NAME,
        metadata,
        Column("caller", Text, primary_key=True),
        Column("key", Text, primary_key=True),
        Column("request_hash", Text, nullable=False),
        Column("status_code", Integer, nullable=False),
        Column("response_body", LargeBinary, nullable=False),
        Column("response_headers", JSONB, nullable=False),
        Column("created_at", TIMESTAMP(timezone=True), nullable=False, server_default=func.now()),
        Index(f"ix_{TABLE_NAME}_created_at", "created_at"),
    )


def idempotency_table_of(metadata: MetaData) -> Table | None:
    return metadata.tables.get(f"{metadata.schema}.{TABLE_NAME}")


@dataclass
class _Attempt:
    """One request's key, caller-independent; the wrapper adds the caller."""

    key: str | None
    request: Request
    session: AsyncSession
    response: Response


async def _attempt(
    request: Request,
    session: Session,
    response: Response,
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="Makes a retry safe: the same key and body within 24 h returns the "
            "first response (with `Idempotent-Replayed: true`) instead of acting twice.",
        ),
    ] = None,
) -> _Attempt:
    return _Attempt(key=key, request=request, session=session, response=response)


def idempotent(
    table: Table, *, encrypt_with: Callable[[Settings], ResponseCipher] | None = None
) -> Callable[[Endpoint], Endpoint]:
    """Make a creating POST honour `Idempotency-Key`; its endpoint must take a `Principal`.

    `encrypt_with` gives the cipher stored response bodies are encrypted with.
    """

    def decorate(endpoint: Endpoint) -> Endpoint:
        hints = get_type_hints(endpoint, include_extras=True)
        signature = inspect.signature(endpoint)
        parameters = [
            parameter.replace(annotation=hints.get(name, parameter.annotation))
            for name, parameter in signature.parameters.items()
        ]
        parameters.append(
            inspect.Parameter(
                "idempotency_attempt",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[_Attempt, Depends(_attempt)],
            )
        )

        @functools.wraps(endpoint)
        async def wrapper(*args: Any, idempotency_attempt: _Attempt, **kwargs: Any) -> Any:
            attempt = idempotency_attempt
            if attempt.key is None:
                return await endpoint(*args, **kwargs)
            caller = _caller(kwargs.values())
            settings: Settings = attempt.request.app.state.settings
            ttl = timedelta(hours=settings.idempotency_key_ttl_hours)
            cipher = encrypt_with(settings) if encrypt_with is not None else None
            request_hash = await _request_hash(attempt.request)
            replay = await _claim(table, attempt, caller, request_hash, ttl, cipher)
            if replay is not None:
                return replay
            result = await endpoint(*args, **kwargs)
            await _store(table, attempt, caller, request_hash, result, cipher)
            return result

        wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=parameters, return_annotation=hints.get("return", signature.empty)
        )
        return wrapper  # type: ignore[return-value]

    return decorate


def _caller(values: Iterable[Any]) -> str:
    principal = next((value for value in values if isinstance(value, Principal)), None)
    if principal is None:
        raise TypeError("an @idempotent endpoint must take the calling Principal")
    return principal.subject


async def _request_hash(request: Request) -> str:
    """What makes two requests "the same": method, path, query and body (JSON canonicalized)."""
    body = await request.body()
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.url.path.encode(), request.url.query.encode()):
        digest.update(part + b"\0")
    digest.update(canonical)
    return digest.hexdigest()


def _lock_id(table: Table, caller: str, key: str) -> int:
    raw = hashlib.sha256(f"{table.schema}\0{caller}\0{key}".encode()).digest()
    return int.from_bytes(raw[:8], "big", signed=True)


@functools.cache
def _claim_statement(table: Table) -> Executable:
    """Take the key's lock (without waiting) and read what was stored under it, in one round
    trip: the stored row (if any) left-joined to the lock's outcome."""
    stored = (
        select(
            table.c.request_hash,
            table.c.status_code,
            table.c.response_body,
            table.c.response_headers,
            (table.c.created_at < func.now() - bindparam("ttl", type_=Interval)).label("expired"),
        )
        .where(table.c.caller == bindparam("caller"), table.c.key == bindparam("key"))
        .subquery("stored")
    )
    locked = select(
        func.pg_try_advisory_xact_lock(bindparam("lock_id", type_=BigInteger)).label("locked")
    ).subquery("claim")
    return select(locked.c.locked, stored).select_from(locked.outerjoin(stored, true()))


async def _claim(
    table: Table,
    attempt: _Attempt,
    caller: str,
    request_hash: str,
    ttl: timedelta,
    cipher: ResponseCipher | None,
) -> Response | None:
    """Hold the key for this transaction; the stored response if the key was used before.

    The lookup's snapshot may predate the lock by a moment: a first request that commits in
    between is then missed, and this one fails on the key's primary key in `_store` instead
    (a 409, see there), so nothing is ever done twice.
    """
    assert attempt.key is not None
    session = attempt.session
    claim = (
        await session.execute(
            _claim_statement(table),
            {
                "lock_id": _lock_id(table, caller, attempt.key),
                "caller": caller,
                "key": attempt.key,
                "ttl": ttl,
            },
        )
    ).one()
    if not claim.locked:
        raise IdempotencyKeyInProgress(
            "The first request with this key has not finished; retry after it has.",
        )
    if claim.request_hash is None:
        return None
    if claim.expired:
        await session.execute(
            delete(table).where(table.c.caller == caller, table.c.key == attempt.key)
        )
        return None
    if claim.request_hash != request_hash:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used with a different request; use a new key for it.",
        )
    body = claim.response_body
    return Response(
        content=cipher.decrypt(body) if cipher is not None else body,
        status_code=claim.status_code,
        headers={**claim.response_headers, REPLAYED_HEADER: "true"},
        media_type="application/json",
    )


async def _store(
    table: Table,
    attempt: _Attempt,
    caller: str,
    request_hash: str,
    result: Any,
    cipher: ResponseCipher | None,
) -> None:
    if isinstance(result, Response):
        status, body, headers = result.status_code, bytes(result.body), result.headers
    else:
        route = attempt.request.scope.get("route")
        status = attempt.response.status_code or getattr(route, "status_code", None) or 200
        body = (
            result.model_dump_json(by_alias=True).encode()
            if isinstance(result, BaseModel)
            else json.dumps(jsonable_encoder(result)).encode()
        )
        headers = attempt.response.headers
    try:
        await attempt.session.execute(
            table.insert(),
            {
                "caller": caller,
                "key": attempt.key,
                "request_hash": request_hash,
                "status_code": status,
                "response_body": cipher.encrypt(body) if cipher is not None else body,
                "response_headers": {
                    name: value for name, value in headers.items() if name not in _UNSTORED_HEADERS
                },
            },
        )
    except IntegrityError as error:
        # The first request committed while this one was claiming the key (see `_claim`);
        # this one rolls back, and its retry gets the first one's response.
        raise IdempotencyKeyInProgress(
            "The first request with this key has just finished; retry to get its response.",
        ) from error


async def purge_expired(database: Database, table: Table, ttl: timedelta) -> int:
    async with database.sessionmaker() as session, session.begin():
        result = await session.execute(delete(table).where(table.c.created_at < func.now() - ttl))
    return int(getattr(result, "rowcount", 0) or 0)


async def run_purger(database: Database, tables: Sequence[Table], settings: Settings) -> None:
    """Purge expired keys of `tables` every `idempotency_purge_interval_seconds`, forever."""
    ttl = timedelta(hours=settings.idempotency_key_ttl_hours)
    while True:
        for table in tables:
            try:
                purged = await purge_expired(database, table, ttl)
            except Exception as error:  # noqa: BLE001 - the next round retries
                log.warning("idempotency purge failed", schema=table.schema, error=repr(error))
                continue
            if purged:
                log.info("purged idempotency keys", schema=table.schema, count=purged)
        await asyncio.sleep(settings.idempotency_purge_interval_seconds)
