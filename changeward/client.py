"""The HTTP client the CLI uses: where the server is, who is calling, and its problems.

The server and token come, first match wins, from the command line, the environment
(`CHANGEWARD_URL`, `CHANGEWARD_TOKEN`) or the config file
(`$CHANGEWARD_CONFIG`, else `$XDG_CONFIG_HOME/changeward/config.toml`, else
`~/.config/changeward/config.toml`):

    url = "https://changeward.example.com"
    token_file = "~/.config/changeward/token"   # or: token = "eyJ..."
"""

from __future__ import annotations

import os
import time
import tomllib
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"
PROBLEM_MEDIA_TYPE = "application/problem+json"
# Connection failures and timeouts are retried: GETs are safe, and every POST carries an
# Idempotency-Key, so the server answers a retried POST with the original response.
RETRIED_ERRORS = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.ReadTimeout,
    httpx.RemoteProtocolError,
)
RETRY_DELAYS = (0.5, 1.5)


class ConfigError(Exception):
    """The config file cannot be read."""


@dataclass(frozen=True)
class ClientConfig:
    url: str
    token: str | None


def config_path(env: Mapping[str, str]) -> Path:
    if env.get("CHANGEWARD_CONFIG"):
        return Path(env["CHANGEWARD_CONFIG"]).expanduser()
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "changeward" / "config.toml"


def load_config(
    url: str | None = None, token: str | None = None, env: Mapping[str, str] | None = None
) -> ClientConfig:
    """The server and token: the arguments, else the environment, else the config file."""
    env = os.environ if env is None else env
    file = _read_config_file(config_path(env))
    token = token or env.get("CHANGEWARD_TOKEN") or _token_of(file)
    url = url or env.get("CHANGEWARD_URL") or file.get("url") or DEFAULT_URL
    return ClientConfig(url=str(url).rstrip("/"), token=token or None)


def _read_config_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from error


def _token_of(file: Mapping[str, Any]) -> str | None:
    if file.get("token"):
        return str(file["token"])
    if file.get("token_file"):
        path = Path(str(file["token_file"])).expanduser()
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigError(f"cannot read token_file {path}: {error}") from error
    return None


class ApiError(Exception):
    """The server answered with an error; `problem` is its RFC 9457 body (or a stand-in)."""

    def __init__(self, status: int, problem: dict[str, Any], method: str, url: str) -> None:
        self.status = status
        self.problem = problem
        self.method = method
        self.url = url
        super().__init__(self.summary)

    @property
    def code(self) -> str:
        return str(self.problem.get("code") or f"http-{self.status}")

    @property
    def summary(self) -> str:
        title = self.problem.get("title") or f"HTTP {self.status}"
        detail = self.problem.get("detail")
        return f"{title}: {detail}" if detail and detail != title else str(title)

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {"title": response.reason_phrase or f"HTTP {response.status_code}"}
            if response.text.strip():
                body["detail"] = response.text.strip()[:500]
        return cls(response.status_code, body, response.request.method, str(response.request.url))


class Unreachable(Exception):
    """The server could not be reached (after retries)."""


class ChangewardClient:
    """A thin synchronous client of Changeward's HTTP API."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        headers = {"User-Agent": "changeward-cli"}
        if config.token:
            headers["Authorization"] = f"Bearer {config.token}"
        self.config = config
        self._retry_delays = retry_delays
        self._http = httpx.Client(
            base_url=config.url, headers=headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> ChangewardClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._http.close()

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return _body(self._send("GET", path, params=_without_none(params or {})))

    def get_tagged(self, path: str) -> tuple[Any, str | None]:
        """The body and the ETag, to send back as If-Match with an edit of what was read."""
        response = self._send("GET", path)
        return _body(response), response.headers.get("ETag")

    def post(
        self,
        path: str,
        body: Any | None = None,
        *,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        sent = {"Idempotency-Key": idempotency_key or str(uuid.uuid4()), **(headers or {})}
        return _body(self._send("POST", path, json=body, headers=sent))

    def put(self, path: str, body: Any, *, headers: Mapping[str, str] | None = None) -> Any:
        return _body(self._send("PUT", path, json=body, headers=dict(headers or {})))

    def delete(self, path: str, *, idempotency_key: str | None = None) -> Any:
        """Like `post`, one key per call unless given: the retries below resend it, so a
        reply lost in transit is replayed, not refused as done already."""
        sent = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        return _body(self._send("DELETE", path, headers=sent))

    def pages(
        self, path: str, params: Mapping[str, Any] | None = None, *, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every item of a cursor-paginated list, following `next_cursor`, up to `limit`."""
        query = _without_none(dict(params or {}))
        seen = 0
        while True:
            page = self.get(path, query)
            for item in page["items"]:
                if limit is not None and seen >= limit:
                    return
                seen += 1
                yield item
            if not page.get("next_cursor"):
                return
            query["cursor"] = page["next_cursor"]

    @contextmanager
    def stream(
        self, path: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[httpx.Response]:
        """A streamed GET (exports); raises ApiError before yielding when it failed."""
        try:
            with self._http.stream("GET", path, params=_without_none(params or {})) as response:
                if response.status_code >= 400:
                    response.read()
                    raise ApiError.from_response(response)
                yield response
        except httpx.TransportError as error:
            raise Unreachable(f"cannot reach {self.config.url}: {error}") from error

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt, delay in enumerate((*self._retry_delays, None)):
            try:
                response = self._http.request(method, path, **kwargs)
            except RETRIED_ERRORS as error:
                if delay is None:
                    raise Unreachable(
                        f"cannot reach {self.config.url} ({attempt + 1} tries): {error!r}"
                    ) from error
                time.sleep(delay)
                continue
            except httpx.TransportError as error:
                raise Unreachable(f"cannot reach {self.config.url}: {error!r}") from error
            if response.status_code >= 400:
                raise ApiError.from_response(response)
            return response
        raise AssertionError("unreachable")


def _body(response: httpx.Response) -> Any:
    return response.json() if response.content else None


def _without_none(params: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if value is not None and value != []}
