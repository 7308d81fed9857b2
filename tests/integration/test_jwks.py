"""RS256 tokens verified against an identity provider's JWKS, served over real HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from shared.auth import Role, TokenVerifier
from shared.errors import Unauthenticated
from shared.settings import Settings

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    jwk = json.loads(RSAAlgorithm.to_jwk(KEY.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "idp-1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    server.shutdown()


def _token(key: rsa.RSAPrivateKey, **overrides: Any) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": "alice@idp",
        "roles": ["change_manager"],
        "aud": "changeward",
        "exp": now + timedelta(minutes=5),
    }
    return jwt.encode({**claims, **overrides}, key, algorithm="RS256", headers={"kid": "idp-1"})


async def test_a_token_signed_by_the_provider_is_accepted(jwks_url: str) -> None:
    verifier = TokenVerifier(Settings(jwks_url=jwks_url, jwt_secret=None))
    principal = await verifier.verify(_token(KEY))
    assert principal.subject == "alice@idp"
    assert principal.roles == frozenset({Role.CHANGE_MANAGER})


@pytest.mark.parametrize(
    "token",
    [
        _token(OTHER_KEY),
        _token(KEY, aud="someone-else"),
        _token(KEY, exp=datetime.now(UTC) - timedelta(minutes=1)),
    ],
    ids=["foreign-key", "wrong-audience", "expired"],
)
async def test_other_tokens_are_refused(jwks_url: str, token: str) -> None:
    verifier = TokenVerifier(Settings(jwks_url=jwks_url, jwt_secret=None))
    with pytest.raises(Unauthenticated):
        await verifier.verify(token)


async def test_an_hs256_token_is_refused_when_verifying_with_jwks(jwks_url: str) -> None:
    verifier = TokenVerifier(Settings(jwks_url=jwks_url, jwt_secret=None))
    forged = jwt.encode({"sub": "mallory", "roles": ["change_lead"], "exp": 4102444800}, "k" * 32)
    with pytest.raises(Unauthenticated):
        await verifier.verify(forged)
