"""Database plumbing: one async engine per process, one schema per service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def service_metadata(schema: str) -> MetaData:
    """The metadata of one service: every table lives in the service's own schema."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


class Database:
    """The engine and session factory of one process, shared by every service it runs."""

    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        self.url = url
        # A fixed pool: connections made and dropped per request above the pool size cost
        # more than waiting for one. No pre-ping (a round trip per checkout): a dropped
        # connection fails one statement, and SQLAlchemy then replaces the whole pool.
        self.engine: AsyncEngine = create_async_engine(
            url, pool_size=pool_size, max_overflow=0, pool_pre_ping=False
        )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # Same pool, no BEGIN/COMMIT round trips: for reads that are one statement.
        self.read_sessionmaker = async_sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
        )

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


# lock_not_available (a lock_timeout ran out) and deadlock_detected: the transaction was
# rolled back while waiting for a lock, and the same work succeeds once the holder is done.
LOCK_CONTENTION_SQLSTATES = frozenset({"55P03", "40P01"})


def is_lock_contention(error: BaseException) -> bool:
    """A statement gave up waiting for a lock another transaction held."""
    orig = getattr(error, "orig", None)
    return getattr(orig, "sqlstate", None) in LOCK_CONTENTION_SQLSTATES


def asyncpg_dsn(url: str) -> str:
    """The plain libpq URL asyncpg itself accepts (without SQLAlchemy's driver suffix)."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.database
    async with database.sessionmaker() as session, session.begin():
        yield session


# Committed when the endpoint returns, before the response is sent; rolled back on any error.
Session = Annotated[AsyncSession, Depends(_request_session, scope="function")]


async def _read_session(request: Request) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.database
    async with database.read_sessionmaker() as session:
        yield session


# For hot read-only endpoints whose answer is one statement: each statement commits on its own.
ReadSession = Annotated[AsyncSession, Depends(_read_session, scope="function")]
