"""Bearer-token authentication (HS256 secret or RS256 via JWKS) and role checks."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.errors import MissingRole, Unauthenticated
from shared.settings import Settings


class Role(StrEnum):
    REQUESTER = "requester"
    EXECUTOR = "executor"
    CHANGE_MANAGER = "change_manager"
    CAB_MEMBER = "cab_member"
    CHANGE_LEAD = "change_lead"
    AUDITOR = "auditor"


ALL_ROLES: frozenset[str] = frozenset(role.value for role in Role)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's subject and roles."""

    subject: str
    roles: frozenset[Role]

    def has_any(self, roles: frozenset[Role]) -> bool:
        return bool(self.roles & roles)


# A pipeline sends the same token with every call: its verdict is kept, up to this many
# tokens, until the token expires but never longer than the reuse window, which bounds how
# long a key withdrawn from the JWKS still admits tokens it signed.
VERIFIED_TOKENS_KEPT = 1024
VERIFIED_TOKEN_REUSE_SECONDS = 60.0


class TokenVerifier:
    """Verifies bearer JWTs: HS256 against the shared secret, or RS256 against a JWKS URL."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        if not settings.jwt_secret and not settings.jwks_url:
            raise ValueError("set CHANGEWARD_JWT_SECRET or CHANGEWARD_JWKS_URL")
        self._secret = settings.jwt_secret
        self._audience = settings.jwt_audience
        self._issuer = settings.jwt_issuer
        self._jwks = jwt.PyJWKClient(settings.jwks_url) if settings.jwks_url else None
        self._clock = clock
        # Token -> (principal, when the verdict lapses); oldest first, for eviction.
        self._verified: dict[str, tuple[Principal, float]] = {}

    async def verify(self, token: str) -> Principal:
        now = self._clock()
        kept = self._verified.get(token)
        if kept is not None:
            principal, lapses_at = kept
            if now < lapses_at:
                return principal
            del self._verified[token]
        try:
            claims = await self._decode(token)
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("The token has expired.") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"The token is not valid: {exc}.") from exc
        roles = claims.get("roles", [])
        if not isinstance(roles, list) or not all(role in ALL_ROLES for role in roles):
            raise Unauthenticated(f"The token's roles must be a list of {sorted(ALL_ROLES)}.")
        principal = Principal(subject=str(claims["sub"]), roles=frozenset(Role(r) for r in roles))
        self._keep(token, principal, min(float(claims["exp"]), now + VERIFIED_TOKEN_REUSE_SECONDS))
        return principal

    def _keep(self, token: str, principal: Principal, lapses_at: float) -> None:
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (principal, lapses_at)

    async def _decode(self, token: str) -> dict[str, Any]:
        options = {"require": ["sub", "exp"], "verify_aud": "aud" in _unverified(token)}
        if self._jwks is not None:
            # PyJWKClient fetches (and caches) keys with blocking I/O.
            key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
            return jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=self._audience,
                issuer=self._issuer,
                options=options,  # type: ignore[arg-type]
            )
        assert self._secret is not None
        return jwt.decode(
            token,
            self._secret,
            algorithms=["HS256"],
            audience=self._audience,
            issuer=self._issuer,
            options=options,  # type: ignore[arg-type]
        )


def _unverified(token: str) -> dict[str, Any]:
    try:
        return dict(jwt.decode(token, options={"verify_signature": False}))
    except jwt.PyJWTError:
        return {}


def mint_token(
    secret: str,
    *,
    subject: str,
    roles: list[str],
    ttl: timedelta = timedelta(hours=12),
    audience: str = "changeward",
) -> str:
    """An HS256 token for development and tests."""
    now = datetime.now(UTC)
    claims = {"sub": subject, "roles": roles, "aud": audience, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm="HS256")


def generate_secret() -> str:
    return secrets.token_urlsafe(32)


_bearer = HTTPBearer(auto_error=False, description="A Changeward JWT.")


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("Send 'Authorization: Bearer <token>'.")
    verifier: TokenVerifier = request.app.state.token_verifier
    return await verifier.verify(credentials.credentials)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits a caller holding any of `roles`."""
    allowed = frozenset(roles)

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if not principal.has_any(allowed):
            raise MissingRole(
                f"This action needs one of the roles {sorted(r.value for r in allowed)}; "
                f"the token has {sorted(r.value for r in principal.roles)}.",
                required_roles=sorted(r.value for r in allowed),
            )
        return principal

    return dependency
