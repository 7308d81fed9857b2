"""deploy/healthcheck.py, the image's curl-less health check, against a loopback server."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

HEALTHCHECK = Path(__file__).resolve().parents[2] / "deploy" / "healthcheck.py"


class _Answers(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = {"/healthz": 200, "/readyz": 503}.get(self.path, 404)
        self.send_response(status)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def _check(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK), *args],
        env={**os.environ, "CHANGEWARD_PORT": str(port)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_healthy_when_the_path_answers_200(port: int) -> None:
    assert _check(port).returncode == 0
    assert _check(port, "/healthz").returncode == 0


def test_unhealthy_when_the_path_answers_an_error(port: int) -> None:
    result = _check(port, "/readyz")
    assert result.returncode == 1
    assert "503" in result.stderr


def test_unhealthy_when_nothing_listens(port: int) -> None:
    result = _check(1, "/healthz")
    assert result.returncode == 1
    assert "127.0.0.1:1/healthz" in result.stderr
