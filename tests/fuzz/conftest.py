"""The app under fuzzing: all five services in one process, on a database of its own."""

from __future__ import annotations

import base64
import dataclasses
import secrets
from collections import Counter
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from schemathesis.python import asgi

from changeward.allinone import SERVICES
from shared.runtime import build_app
from shared.settings import Settings
from tests.conftest import fresh_database
from tests.fuzz import hooks, problem_check  # noqa: F401 - registers the hooks and the check
from tests.fuzz.profile import current_profile
from tests.fuzz.schemas import APP_UNDER_TEST, FUZZ_JWT_SECRET


class Tally:
    """What the run sent, for its summary."""

    def __init__(self) -> None:
        self.examples: Counter[str] = Counter()
        self.stateful_scenarios = 0
        self.stateful_steps: Counter[str] = Counter()


_TALLY = Tally()


@pytest.fixture(scope="session")
def tally() -> Tally:
    return _TALLY


@pytest.fixture(scope="session")
async def fuzz_database_url(pg_server: str) -> str:
    """A database of the fuzzer's own: what it writes never meets another test's counts."""
    return await fresh_database(pg_server)


@pytest.fixture(scope="session")
def fuzz_app(fuzz_database_url: str) -> Iterator[FastAPI]:
    """The all-in-one app; Schemathesis runs its lifespan in an event-loop thread of its own."""
    settings = Settings(
        database_url=fuzz_database_url,
        jwt_secret=FUZZ_JWT_SECRET,
        audit_signing_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        notify_secret_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        relay_idle_poll_seconds=0.2,
    )
    # Fuzzed subscriptions name arbitrary webhook URLs: never deliver to them (delivery is
    # tested elsewhere); their deliveries stay pending, which the API serves all the same.
    services = [
        dataclasses.replace(service, background=None) if name == "notify" else service
        for name, service in SERVICES.items()
    ]
    app = build_app(services, settings, database_url=fuzz_database_url)
    APP_UNDER_TEST.app = app
    yield app
    asgi.shutdown_lifespans()
    APP_UNDER_TEST.app = None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _TALLY.examples and not _TALLY.stateful_steps:
        return
    write = terminalreporter.write_line
    terminalreporter.section(f"schemathesis, {current_profile().name} run")
    counts = sorted(_TALLY.examples.items(), key=lambda item: (item[1], item[0]))
    for label, count in counts:
        write(f"{count:>7}  {label}")
    if counts:
        write(
            f"{len(counts)} operations, {sum(_TALLY.examples.values())} requests; "
            f"per operation at least {counts[0][1]}, at most {counts[-1][1]}"
        )
    steps = _TALLY.stateful_steps
    write(
        f"stateful: {_TALLY.stateful_scenarios} scenarios, {sum(steps.values())} steps "
        f"over {len(steps)} operations"
    )
