"""The thin path through the all-in-one app, in this process, on the in-process bus."""

from __future__ import annotations

import httpx

from tests.support.clients import Tokens
from tests.support.thin_path import walk_thin_path


async def test_thin_path_in_process(api: httpx.AsyncClient, tokens: Tokens) -> None:
    await walk_thin_path(api, lambda path: path, tokens)
