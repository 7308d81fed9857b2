"""Toxiproxy: its server process, and the few calls of its HTTP API the faults need."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from shared.embedded_postgres import free_port

REPO = Path(__file__).resolve().parents[1]
INSTALL_SCRIPT = REPO / "deploy" / "toxiproxy" / "toxiproxy.sh"
START_TIMEOUT_S = 20.0
ADMIN_DEADLINE_S = 120.0


def install() -> Path:
    """The toxiproxy-server binary, built from the Go module proxy the first time."""
    result = subprocess.run(
        ["bash", str(INSTALL_SCRIPT), "install"],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return Path(result.stdout.strip().splitlines()[-1])


@dataclass(frozen=True)
class Proxy:
    name: str
    listen_port: int
    upstream_port: int


class Toxiproxy:
    """A toxiproxy-server on 127.0.0.1, driven through its admin API."""

    def __init__(self, binary: Path, log: Path) -> None:
        self._binary = binary
        self._log = log
        self.admin_port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self._log.open("ab") as output:
            self._process = subprocess.Popen(
                [str(self._binary), "-host", "127.0.0.1", "-port", str(self.admin_port)],
                # Its default logs every connection it opens and closes: megabytes a minute.
                env={**os.environ, "LOG_LEVEL": "warn"},
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"toxiproxy exited at start:\n{self._log.read_text()}")
            try:
                httpx.get(f"http://127.0.0.1:{self.admin_port}/version", timeout=1.0)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"toxiproxy not answering within {START_TIMEOUT_S} s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)

    async def create(self, name: str, upstream_port: int) -> Proxy:
        proxy = Proxy(name, free_port(), upstream_port)
        await self._call(
            "POST",
            "/proxies",
            {
                "name": name,
                "listen": f"127.0.0.1:{proxy.listen_port}",
                "upstream": f"127.0.0.1:{upstream_port}",
                "enabled": True,
            },
        )
        return proxy

    async def set_enabled(self, proxy: Proxy, enabled: bool) -> None:
        """Disabled, the proxy closes every connection and refuses new ones: a cut."""
        await self._call("POST", f"/proxies/{proxy.name}", {"enabled": enabled})

    async def add_toxic(
        self, proxy: Proxy, name: str, kind: str, attributes: dict[str, Any]
    ) -> None:
        """A toxic on the server-to-client stream, which every request waits on."""
        await self._call(
            "POST",
            f"/proxies/{proxy.name}/toxics",
            {
                "name": name,
                "type": kind,
                "stream": "downstream",
                "toxicity": 1.0,
                "attributes": attributes,
            },
        )

    async def remove_toxic(self, proxy: Proxy, name: str) -> None:
        await self._call("DELETE", f"/proxies/{proxy.name}/toxics/{name}")

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> None:
        """One admin call, retried while the server is too busy to answer (a heal must land)."""
        url = f"http://127.0.0.1:{self.admin_port}{path}"
        deadline = time.monotonic() + ADMIN_DEADLINE_S
        async with httpx.AsyncClient(timeout=10.0) as client:
            while True:
                try:
                    response = await client.request(method, url, json=body)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.5)
        if response.status_code >= 300:
            raise RuntimeError(f"toxiproxy {method} {path}: {response.status_code} {response.text}")
