"""The token verifier keeps a verdict for a token it has verified, and only for a while."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jwt
import pytest

from shared import auth
from shared.auth import Role, TokenVerifier, generate_secret, mint_token
from shared.errors import Unauthenticated
from shared.settings import Settings

SECRET = generate_secret()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingVerifier(TokenVerifier):
    """Counts the tokens it had to decode (signature checked) rather than recall."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(Settings(jwt_secret=SECRET), clock=clock)
        self.decoded = 0

    async def _decode(self, token: str) -> dict[str, Any]:
        self.decoded += 1
        return await super()._decode(token)


def token(subject: str = "ci", ttl: timedelta = timedelta(hours=1)) -> str:
    return mint_token(SECRET, subject=subject, roles=["executor"], ttl=ttl)


async def test_a_token_used_again_is_not_decoded_again() -> None:
    verifier = CountingVerifier(Clock(1_000.0))
    first = await verifier.verify(token_ := token())
    again = await verifier.verify(token_)
    assert first == again
    assert again.roles == frozenset({Role.EXECUTOR})
    assert verifier.decoded == 1


async def test_a_verdict_lapses_after_the_reuse_window() -> None:
    clock = Clock(1_000.0)
    verifier = CountingVerifier(clock)
    await verifier.verify(token_ := token())
    clock.now += auth.VERIFIED_TOKEN_REUSE_SECONDS
    await verifier.verify(token_)
    assert verifier.decoded == 2


async def test_a_verdict_lapses_when_its_token_expires() -> None:
    short = token(ttl=timedelta(seconds=5))
    expires_at = float(jwt.decode(short, options={"verify_signature": False})["exp"])
    clock = Clock(expires_at - 1)
    verifier = CountingVerifier(clock)
    await verifier.verify(short)
    await verifier.verify(short)
    assert verifier.decoded == 1
    clock.now = expires_at
    # Past the token's own expiry the verdict is gone: the token is checked afresh.
    await verifier.verify(short)
    assert verifier.decoded == 2


async def test_a_refused_token_is_refused_every_time() -> None:
    verifier = CountingVerifier(Clock(1_000.0))
    forged = mint_token("another secret, 32 bytes or more!", subject="mallory", roles=["auditor"])
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            await verifier.verify(forged)
    assert verifier.decoded == 2


async def test_the_oldest_verdict_makes_room(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "VERIFIED_TOKENS_KEPT", 2)
    verifier = CountingVerifier(Clock(1_000.0))
    oldest, middle, newest = token("a"), token("b"), token("c")
    for each in (oldest, middle, newest):
        await verifier.verify(each)
    await verifier.verify(middle)
    await verifier.verify(newest)
    assert verifier.decoded == 3
    await verifier.verify(oldest)
    assert verifier.decoded == 4
