"""`changeward freeze lift` sends one Idempotency-Key per run, so its retry after a lost
answer is safe (the server replays the first answer for that key)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from changeward.cli import app

FREEZE = "0b6c9a52-3f1e-4e4b-9d7a-5f0f1c2d3e4a"
LIFTED = {
    "id": FREEZE,
    "services": ["checkout"],
    "environment": "production",
    "start": "2026-12-20T00:00:00Z",
    "end": "2027-01-03T00:00:00Z",
    "reason": "Holiday peak",
    "declared_by": "lena",
    "declared_at": "2026-12-01T00:00:00Z",
    "lifted_at": "2026-12-21T00:00:00Z",
    "lifted_by": "lena",
}


class LossyServer:
    """Answers DELETE with the lifted window, except that it loses the first answer of
    every key: the connection closes without a reply, as when a proxy drops it."""

    def __init__(self) -> None:
        self.keys: list[str | None] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        lossy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_DELETE(self) -> None:
                key = self.headers.get("Idempotency-Key")
                first_time = key not in lossy.keys
                lossy.keys.append(key)
                if first_time:
                    self.close_connection = True
                    return
                payload = json.dumps(LIFTED).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler

    def __enter__(self) -> LossyServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def lossy() -> Iterator[LossyServer]:
    with LossyServer() as server:
        yield server


def lift(lossy: LossyServer, tmp_path: Path, *args: str) -> Result:
    env = {
        "CHANGEWARD_URL": lossy.url,
        "CHANGEWARD_TOKEN": "t0ken",
        "CHANGEWARD_CONFIG": str(tmp_path / "absent.toml"),
    }
    return CliRunner().invoke(app, ["freeze", "lift", FREEZE, "--json", *args], env=env)


def test_a_lift_whose_answer_is_lost_is_retried_with_the_same_key(
    lossy: LossyServer, tmp_path: Path
) -> None:
    result = lift(lossy, tmp_path)

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["lifted_by"] == "lena"
    first, retry = lossy.keys
    assert first is not None
    assert len(first) == 36
    assert retry == first


def test_each_run_has_its_own_key_unless_one_is_given(lossy: LossyServer, tmp_path: Path) -> None:
    assert lift(lossy, tmp_path).exit_code == 0
    assert lift(lossy, tmp_path).exit_code == 0
    assert lift(lossy, tmp_path, "--idempotency-key", "lift-holiday-1").exit_code == 0

    first_run, second_run, given = lossy.keys[0], lossy.keys[2], lossy.keys[4]
    assert first_run != second_run
    assert given == "lift-holiday-1"
