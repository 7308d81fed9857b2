"""Cursor pagination for every list: opaque keyset cursors and the `{items, next_cursor}` page.

A page is ordered by a unique key, newest first (e.g. `(created_at, id)` descending);
the cursor holds the last row's key, so rows inserted while a client pages through
land before its cursor and are neither skipped nor repeated.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from fastapi import Depends, Query
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from shared.errors import InvalidRequest

T = TypeVar("T")
Row = TypeVar("Row")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class InvalidCursor(InvalidRequest):
    code = "invalid-cursor"
    title = "The cursor is not one this list returned"


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


class PageRequest(BaseModel):
    cursor: str | None = None
    limit: int = DEFAULT_LIMIT


def _page_request(
    cursor: Annotated[
        str | None,
        Query(max_length=2000, description="`next_cursor` of the previous page."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = DEFAULT_LIMIT,
) -> PageRequest:
    return PageRequest(cursor=cursor, limit=limit)


PageParams = Annotated[PageRequest, Depends(_page_request)]


def encode_cursor(values: Sequence[Any], types: Sequence[type[Any]]) -> str:
    raw = json.dumps(
        [
            TypeAdapter(kind).dump_python(kind(str(value)) if kind is UUID else value, mode="json")
            for kind, value in zip(types, values, strict=True)
        ]
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, types: Sequence[type[Any]]) -> tuple[Any, ...]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != len(types):
            raise ValueError("wrong shape")
        return tuple(
            TypeAdapter(kind).validate_python(value) for kind, value in zip(types, raw, strict=True)
        )
    except (ValueError, binascii.Error, ValidationError) as error:
        raise InvalidCursor(
            "Pass back a `next_cursor` exactly as a previous page returned it.",
            errors=[{"loc": ["query", "cursor"], "msg": str(error), "type": "invalid_cursor"}],
        ) from None


async def keyset_page(
    session: AsyncSession,
    statement: Select[Row],
    key: Sequence[InstrumentedAttribute[Any]],
    page: PageRequest,
) -> tuple[list[Row], str | None]:
    """The rows of one page of `statement`, ordered by `key` descending, and the next cursor.

    `key` must be unique across rows (end it with the primary key).
    """
    types = [column.type.python_type for column in key]
    if page.cursor is not None:
        after = decode_cursor(page.cursor, types)
        statement = statement.where(tuple_(*key) < tuple_(*after))
    statement = statement.order_by(*(column.desc() for column in key)).limit(page.limit + 1)
    rows = list((await session.execute(statement)).scalars().all())
    if len(rows) <= page.limit:
        return rows, None
    rows = rows[: page.limit]
    return rows, encode_cursor([getattr(rows[-1], column.key) for column in key], types)
