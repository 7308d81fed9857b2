"""Structured logs with a request id, Prometheus metrics, health and readiness."""

from __future__ import annotations

import logging
import sys
import time
import uuid
from typing import Any, TextIO, cast

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_REQUESTS = Counter(
    "changeward_http_requests_total", "HTTP requests served", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "changeward_http_request_duration_seconds", "HTTP request latency", ["method", "route"]
)
OUTBOX_PUBLISHED = Counter(
    "changeward_outbox_published_total", "Outbox rows published to the bus", ["schema"]
)
OUTBOX_PENDING = Gauge(
    "changeward_outbox_pending", "Committed outbox rows not yet published", ["schema"]
)
CONSUMER_LAG = Gauge(
    "changeward_consumer_lag",
    "Events on a topic that a consumer group has not handled yet (the broker's high "
    "watermark less the group's position, the batch in hand counted as not handled)",
    ["group", "topic"],
)
EVENTS_CONSUMED = Counter(
    "changeward_events_consumed_total",
    "Events handled by a consumer, by outcome (applied, duplicate, failed)",
    ["schema", "type", "outcome"],
)


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(cast(TextIO, _CurrentStderr())),
        cache_logger_on_first_use=True,
    )


class _CurrentStderr:
    """Whatever `sys.stderr` is when a line is written, not when logging was configured: a
    CLI run in-process (tests, embedding) swaps it for a stream it closes afterwards."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class RequestContextMiddleware:
    """Tags every log line of a request with its id, echoes `X-Request-ID`, and counts it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id = headers.get(b"x-request-id", b"").decode() or uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"].append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            HTTP_REQUESTS.labels(scope["method"], path, str(status)).inc()
            HTTP_LATENCY.labels(scope["method"], path).observe(time.perf_counter() - started)
            structlog.contextvars.unbind_contextvars("request_id")


async def metrics_endpoint(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
