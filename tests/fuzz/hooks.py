"""Schemathesis hooks: what generated data cannot know about the API."""

from __future__ import annotations

import uuid

import schemathesis
from schemathesis import GenerationMode, HookContext

from tests.fuzz import AnyCase

# The query parameter of every list that takes a page's `next_cursor`.
CURSOR = "cursor"
IDEMPOTENCY_KEY = "Idempotency-Key"


@schemathesis.hook("map_case")
def no_made_up_cursors(context: HookContext, case: AnyCase) -> AnyCase:
    """Valid data never carries a made-up cursor.

    A cursor is valid only as a previous page returned it, which no schema can say; a
    made-up one is rightly refused (422 `invalid-cursor`). Real cursors reach the lists
    through the `next_page` links in the stateful run, made-up ones through negative data.
    """
    if _positive(case) and case.query:
        case.query.pop(CURSOR, None)
    return case


@schemathesis.hook("map_case")
def fresh_idempotency_keys(context: HookContext, case: AnyCase) -> AnyCase:
    """Valid data names each request with a key of its own.

    A key names one request: sent again with another body it is refused, 422
    `idempotency-key-reused` (DESIGN.md §4), however valid both bodies. Replays are tested
    in tests/integration/test_idempotency.py.
    """
    if _positive(case) and case.headers and IDEMPOTENCY_KEY in case.headers:
        case.headers[IDEMPOTENCY_KEY] = str(uuid.uuid4())
    return case


def _positive(case: AnyCase) -> bool:
    return case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE
