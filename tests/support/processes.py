"""Running Changeward as real processes, the way an operator does."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from shared.embedded_postgres import free_port

ROUTES = {
    "/v1/changes": "intake",
    "/v1/templates": "intake",
    "/v1/deployments": "intake",
    "/v1/reviews": "review",
    "/v1/policies": "review",
    "/v1/freeze-windows": "review",
    "/v1/executions": "execution",
    "/v1/gate": "execution",
    "/v1/audit": "audit",
    "/v1/reports": "audit",
    "/v1/incidents": "audit",
    "/v1/retrospectives": "audit",
    "/v1/subscriptions": "notify",
    "/v1/deliveries": "notify",
}


@dataclass
class Stack:
    """Where each service answers; in the all-in-one mode they all share one URL."""

    mode: str
    base_urls: dict[str, str]

    def url(self, path: str) -> str:
        service = next((name for prefix, name in ROUTES.items() if path.startswith(prefix)), None)
        base = self.base_urls.get(service or "", next(iter(self.base_urls.values())))
        return base + path


@contextmanager
def changeward_process(args: list[str], env: Mapping[str, str], log: Path) -> Iterator[str]:
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "changeward", *args, "--port", str(port)],
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base_url, process, log)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(
    base_url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 90
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{base_url} exited with {process.returncode}:\n{log.read_text()[-4000:]}"
            )
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{base_url} not ready after {timeout}s:\n{log.read_text()[-4000:]}")
