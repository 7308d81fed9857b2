"""The ceiling: the least a FastAPI + asyncpg endpoint can do to durably insert one row."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from pydantic import BaseModel

from shared.db import asyncpg_dsn

# The same pool size as Changeward's engine (pool_size 10 + max_overflow 10).
POOL_SIZE = 20


class Item(BaseModel):
    title: str
    body: dict[str, Any] = {}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    pool = await asyncpg.create_pool(
        asyncpg_dsn(os.environ["BENCH_DATABASE_URL"]), min_size=POOL_SIZE, max_size=POOL_SIZE
    )
    await pool.execute(
        "CREATE TABLE IF NOT EXISTS ceiling_item"
        " (id uuid PRIMARY KEY, title text NOT NULL, body jsonb NOT NULL,"
        " created_at timestamptz NOT NULL DEFAULT now())"
    )
    app.state.pool = pool
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/items", status_code=201)
async def create_item(item: Item, request: Request) -> dict[str, str]:
    """Insert one row and return its id."""
    item_id = uuid.uuid4()
    await request.app.state.pool.execute(
        "INSERT INTO ceiling_item (id, title, body) VALUES ($1, $2, $3::jsonb)",
        item_id,
        item.title,
        json.dumps(item.body),
    )
    return {"id": str(item_id)}
