"""The OpenAPI documents under test, loaded when the tests are collected.

Each service publishes its own document (`changeward serve <service>`); the all-in-one app
serves the union on the same paths, so every document is fuzzed against that one app. The
documents do not depend on the database, so they are read from apps that never start.
"""

from __future__ import annotations

from datetime import timedelta

import schemathesis
from fastapi import FastAPI
from schemathesis.specs.openapi.schemas import OpenApiSchema
from starlette.types import Receive, Scope, Send

from changeward.allinone import create_app, create_service_app
from shared.auth import ALL_ROLES, generate_secret, mint_token
from shared.settings import Settings
from tests.fuzz.profile import current_profile

# The fuzzed app's own secret, so the token exists before any fixture runs.
FUZZ_JWT_SECRET = generate_secret()
# The authorization matrix is tested elsewhere (tests/integration/test_authz_matrix.py):
# here one caller holding every role gets past auth to the handlers' input checks.
FUZZ_TOKEN = mint_token(
    FUZZ_JWT_SECRET, subject="fuzzer", roles=sorted(ALL_ROLES), ttl=timedelta(hours=12)
)
_UNUSED_DATABASE = "postgresql+asyncpg://unused/unused"
_SETTINGS = Settings(jwt_secret=FUZZ_JWT_SECRET, database_url=_UNUSED_DATABASE)


class AppUnderTest:
    """The ASGI app the schemas send to, plugged in by the `fuzz_app` fixture.

    Schemathesis needs the app when the schemas are loaded (at collection), the app needs
    the session's database, which exists only once the fixtures run.
    """

    def __init__(self) -> None:
        self.app: FastAPI | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "request the `fuzz_app` fixture"
        await self.app(scope, receive, send)


APP_UNDER_TEST = AppUnderTest()


def _load(document: dict[str, object]) -> OpenApiSchema:
    config = schemathesis.Config.from_dict(
        {
            **current_profile().schemathesis_config(),
            "auth": {"openapi": {"HTTPBearer": {"bearer": FUZZ_TOKEN}}},
        }
    )
    schema = schemathesis.openapi.from_dict(document, config=config)
    assert isinstance(schema, OpenApiSchema)
    schema.app = APP_UNDER_TEST
    return schema


def service_schema(name: str) -> OpenApiSchema:
    """The OpenAPI document `changeward serve <name>` publishes."""
    return _load(create_service_app(name, _SETTINGS, _UNUSED_DATABASE).openapi())


def all_in_one_schema() -> OpenApiSchema:
    """The OpenAPI document of `changeward run`: every service's operations."""
    return _load(create_app(_SETTINGS, _UNUSED_DATABASE).openapi())
