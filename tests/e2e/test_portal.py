"""The portal at /ui/ in a real headless Chromium, against a running all-in-one server."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Page, expect, sync_playwright

from tests.conftest import fresh_database
from tests.support.clients import CHANGE_BODY, Tokens
from tests.support.infra import REPO
from tests.support.processes import changeward_process

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Debian's chromium package, installed by .ci/run; Playwright drives it as it is.
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "tests" / "artifacts"


@pytest.fixture(scope="module")
def server(
    pg_server: str, jwt_secret: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("portal")
    env = {
        "CHANGEWARD_DATABASE_URL": asyncio.run(fresh_database(pg_server, migrated=False)),
        "CHANGEWARD_JWT_SECRET": jwt_secret,
        "CHANGEWARD_DATA_DIR": str(workdir),
        "CHANGEWARD_KAFKA_BOOTSTRAP_SERVERS": "",
        "CHANGEWARD_RELAY_IDLE_POLL_SECONDS": "0.2",
    }
    with changeward_process(["run"], env, workdir / "run.log") as url:
        yield url


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    assert CHROMIUM.exists(), "the browser test needs Debian's chromium: apt-get install chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        yield context.new_page()
        browser.close()


def _assessed_change(server: str, tokens: Tokens) -> dict[str, Any]:
    """A change whose window opens within the hour, submitted and assessed by review."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    body = {
        **CHANGE_BODY,
        "title": "Portal: double checkout pods",
        "window": {"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()},
    }
    rita = tokens.headers("rita", "requester")
    created = httpx.post(f"{server}/v1/changes", json=body, headers=rita, timeout=10)
    assert created.status_code == 201, created.text
    change: dict[str, Any] = created.json()
    submitted = httpx.post(f"{server}/v1/changes/{change['id']}/submit", headers=rita, timeout=10)
    assert submitted.status_code == 200, submitted.text
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        current = httpx.get(f"{server}/v1/changes/{change['id']}", headers=rita, timeout=10).json()
        if current["status"] == "assessed":
            return dict(current)
        time.sleep(0.2)
    raise AssertionError(f"the change was not assessed: {current}")


def test_the_portal_shows_a_change_its_timeline_and_its_proofs(
    server: str, page: Page, tokens: Tokens, tmp_path: Path
) -> None:
    change = _assessed_change(server, tokens)
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # 404s of APIs this server does not have yet are answered by the page; any other
        # error (a script error, a blocked resource) is a defect.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{server}/ui/")
    expect(page.locator("#who")).to_have_text("no token")
    token = tokens.headers("mona", "change_manager", "auditor")["Authorization"].split()[1]
    page.fill("#token", token)
    page.click("#token-form button[type=submit]")
    expect(page.locator("#who")).to_have_text("mona (change_manager, auditor)")

    in_calendar = page.locator(f'#calendar-body .item[data-change-id="{change["id"]}"]')
    expect(in_calendar).to_contain_text("Portal: double checkout pods")
    expect(in_calendar).to_contain_text("assessed")
    expect(in_calendar).to_contain_text("checkout in production")
    in_queue = page.locator(f'#queue-body tr[data-change-id="{change["id"]}"]')
    expect(in_queue).to_contain_text("important")

    in_calendar.locator("a").click()
    expect(page).to_have_url(f"{server}/ui/#change={change['id']}")
    expect(page.locator("#change-summary")).to_contain_text("Portal: double checkout pods")
    rows = page.locator("#timeline tbody tr")
    expect(rows.first).to_contain_text("change.requested")
    status = page.locator("#ledger-status")
    expect(status).to_contain_text("Ledger verified")
    expect(status).to_contain_text("its signature is valid")
    entries = rows.count()
    assert entries >= 2  # requested and assessed
    expect(status).to_contain_text(f"{entries} of {entries} entries of this change proven")
    expect(page.locator("#timeline .proof-cell").first).to_contain_text("included in the tree")

    screenshot = tmp_path / "portal.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(screenshot, ARTIFACTS / "portal.png")
    assert problems == []


def test_the_portal_without_a_token_asks_for_one_and_leaks_nothing(server: str, page: Page) -> None:
    page.goto(f"{server}/ui/")
    page.evaluate("sessionStorage.clear()")
    page.goto(f"{server}/ui/")
    expect(page.locator("#who")).to_have_text("no token")
    expect(page.locator("#calendar-body")).to_be_empty()

    response = httpx.get(f"{server}/ui/", timeout=10)
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert (
        httpx.get(f"{server}/ui/portal.js", timeout=10)
        .headers["content-type"]
        .startswith("text/javascript")
    )
    assert httpx.get(f"{server}/ui/../pyproject.toml", timeout=10).status_code == 404
    assert httpx.get(f"{server}/ui/jwt-secret", timeout=10).status_code == 404
    redirect = httpx.get(f"{server}/ui", timeout=10)
    assert redirect.status_code == 307
    assert redirect.headers["location"] == "/ui/"
