"""Retrying work that must eventually succeed (delivery, publication)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

log = structlog.get_logger(__name__)

T = TypeVar("T")
R = TypeVar("R")


def _log_attempt(what: str) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning("retrying", what=what, attempt=state.attempt_number, error=repr(error))

    return before_sleep


async def forever(
    fn: Callable[[T], Awaitable[R]], arg: T, *, what: str, max_wait: float = 10.0
) -> R:
    """Call `fn(arg)` until it succeeds, backing off exponentially with jitter."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(Exception),
        wait=wait_exponential_jitter(multiplier=0.05, max=max_wait, jitter=0.1),
        before_sleep=_log_attempt(what),
        reraise=True,
    ):
        with attempt:
            return await fn(arg)
    raise AssertionError("unreachable")
