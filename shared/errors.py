"""RFC 9457 problem details: one error hierarchy, rendered by one set of handlers."""

from __future__ import annotations

from typing import Any, ClassVar

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

from shared.db import is_lock_contention

log = structlog.get_logger(__name__)

PROBLEM_BASE = "https://changeward.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


class ChangewardError(Exception):
    """A failure the caller can act on; `code` is stable and names the `type` URI."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class NotFound(ChangewardError):
    status = 404
    code = "not-found"
    title = "Not found"


class Conflict(ChangewardError):
    status = 409
    code = "conflict"
    title = "Conflict"


class InvalidTransition(Conflict):
    code = "invalid-transition"
    title = "Transition not allowed in the current state"


class Forbidden(ChangewardError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class MissingRole(Forbidden):
    code = "missing-role"
    title = "The token lacks a required role"


class SelfApprovalForbidden(Forbidden):
    code = "self-approval-forbidden"
    title = "The requester of a change cannot approve it"


class Unauthenticated(ChangewardError):
    status = 401
    code = "unauthenticated"
    title = "Missing or invalid bearer token"


class InvalidRequest(ChangewardError):
    status = 422
    code = "validation-error"
    title = "The request is not valid"


class MalformedBody(ChangewardError):
    status = 400
    code = "malformed-json"
    title = "The request body is not valid JSON"


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str
    title: str
    status: int
    # Absent rather than null when there is nothing to say (RFC 9457 members are strings).
    detail: str | SkipJsonSchema[None] = None
    instance: str
    code: str
    errors: list[dict[str, Any]] | SkipJsonSchema[None] = None


def error_responses(*errors: type[ChangewardError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for a route: each status with the problem schema."""
    responses: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        described = responses.get(error.status, {}).get("description")
        description = f"{described}; {error.title}" if described else error.title
        responses[error.status] = {
            "model": Problem,
            "description": description,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    return responses


def problem_response(
    request: Request,
    *,
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": title,
        "status": status,
        **({"detail": detail} if detail is not None else {}),
        "instance": request.url.path,
        "code": code,
        **extensions,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


async def _changeward_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ChangewardError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return problem_response(
        request,
        status=exc.status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        headers=headers,
        **exc.extensions,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
        for error in exc.errors()
    ]
    if any(error["type"] == "json_invalid" for error in errors):
        return problem_response(
            request,
            status=MalformedBody.status,
            code=MalformedBody.code,
            title=MalformedBody.title,
            detail=errors[0]["msg"],
            errors=errors,
        )
    fields = ", ".join(".".join(str(part) for part in error["loc"]) for error in errors)
    return problem_response(
        request,
        status=422,
        code=InvalidRequest.code,
        title=InvalidRequest.title,
        detail=f"Invalid fields: {fields}",
        errors=errors,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI's only 400: a body it could not read (e.g. not UTF-8) before parsing it.
        return problem_response(
            request,
            status=MalformedBody.status,
            code=MalformedBody.code,
            title=MalformedBody.title,
            detail=str(exc.detail),
        )
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    return problem_response(
        request,
        status=exc.status_code,
        code=code,
        title=str(exc.detail),
        detail=str(exc.detail),
        headers=headers or None,
    )


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> list[str]:
    """Every method of the resource. Starlette names only the first route matching the path,
    though GET and POST of one path are often two routes."""
    routes: list[BaseRoute] = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    ]


# Seconds a client is told to wait before retrying a request the database could not serve.
DATABASE_RETRY_AFTER = "1"


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """A lost connection or an exhausted pool. If the commit itself was cut off its outcome
    is unknown, which is what `Idempotency-Key` is for: a retry with it is always safe."""
    if isinstance(exc, DBAPIError) and _refused_value(exc):
        return _unstorable_value(request, exc)
    if isinstance(exc, DBAPIError) and is_lock_contention(exc):
        return _lock_not_free(request, exc)
    if isinstance(exc, DBAPIError) and not exc.connection_invalidated:
        log.exception("database error", error=repr(exc))
        return problem_response(
            request,
            status=500,
            code="internal-error",
            title="Internal error",
            detail="The request failed on a database error; it has been logged.",
        )
    if isinstance(exc, PoolTimeout):
        return _database_busy(request, "No database connection was free in time; retry shortly.")
    return problem_response(
        request,
        status=503,
        code="database-unavailable",
        title="The database is unavailable",
        detail="The connection to the database was lost; retry shortly.",
        headers={"Retry-After": DATABASE_RETRY_AFTER},
    )


def _lock_not_free(request: Request, exc: DBAPIError) -> JSONResponse:
    """Another transaction held a lock longer than the lock timeout; it rolled back."""
    log.warning("lock not granted in time", error=repr(exc))
    return _database_busy(request, "A lock the request needed was not free in time; retry shortly.")


def _database_busy(request: Request, detail: str) -> JSONResponse:
    return problem_response(
        request,
        status=503,
        code="database-busy",
        title="The database is busy",
        detail=detail,
        headers={"Retry-After": DATABASE_RETRY_AFTER},
    )


class UnstorableValue(InvalidRequest):
    code = "unstorable-value"
    title = "A value in the request cannot be stored"


def _refused_value(exc: DBAPIError) -> bool:
    """PostgreSQL's data exceptions (SQLSTATE class 22, e.g. a NUL in a text), or asyncpg
    refusing to encode an argument (e.g. an unpaired surrogate, an integer beyond 64 bits)."""
    sqlstate = getattr(exc.orig, "sqlstate", None) or ""
    cause = getattr(exc.orig, "__cause__", None)
    unencodable = isinstance(cause, ValueError) and isinstance(
        cause, asyncpg.exceptions.InterfaceError
    )
    return sqlstate.startswith("22") or unencodable


def _unstorable_value(request: Request, exc: DBAPIError) -> JSONResponse:
    """The request's fault, and its transaction rolled back. The database's message quotes
    the value, so it goes to the log only."""
    log.warning("value the database refused", error=repr(exc))
    return problem_response(
        request,
        status=UnstorableValue.status,
        code=UnstorableValue.code,
        title=UnstorableValue.title,
        detail="A text holds a NUL character or an unpaired surrogate, or a number is out of "
        "the range the field can hold.",
    )


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    """Any other failure is a bug; Starlette re-raises it after this answer, to be logged."""
    return problem_response(
        request,
        status=500,
        code="internal-error",
        title="Internal error",
        detail="The request failed on an unexpected error; it has been logged.",
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Exception, _internal_error)
    app.add_exception_handler(ChangewardError, _changeward_error)
    app.add_exception_handler(PoolTimeout, _database_unavailable)
    app.add_exception_handler(DBAPIError, _database_unavailable)
    app.add_exception_handler(OSError, _database_unavailable)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
