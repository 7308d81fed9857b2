"""RFC 9457 problem details: one error hierarchy, rendered by one set of handlers."""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

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


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    code: str
    errors: list[dict[str, Any]] | None = None


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
        "detail": detail,
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
            status=400,
            code="malformed-json",
            title="The request body is not valid JSON",
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
    code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    return problem_response(
        request,
        status=exc.status_code,
        code=code,
        title=str(exc.detail),
        detail=str(exc.detail),
        headers=dict(exc.headers) if exc.headers else None,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ChangewardError, _changeward_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
