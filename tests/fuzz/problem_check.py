"""A Schemathesis check: every 4xx and 5xx answer is an RFC 9457 problem document."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import schemathesis
from schemathesis import CheckContext, Response

from tests.fuzz import AnyCase

PROBLEM_MEDIA_TYPE = "application/problem+json"
_STRING_MEMBERS = ("detail", "instance")


def problem_violations(status: int, content_type: str | None, content: bytes) -> list[str]:
    """What makes an error answer not a valid problem+json document; empty when it is one."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != PROBLEM_MEDIA_TYPE:
        return [f"content-type is {content_type!r}, not {PROBLEM_MEDIA_TYPE!r}"]
    try:
        body: Any = json.loads(content)
    except ValueError as error:
        return [f"the body is not JSON: {error}"]
    if not isinstance(body, dict):
        return [f"the body is a JSON {type(body).__name__}, not an object"]
    violations: list[str] = []
    problem_type = body.get("type")
    if not isinstance(problem_type, str) or not _is_absolute_uri(problem_type):
        violations.append(f"`type` must be an absolute URI, got {problem_type!r}")
    title = body.get("title")
    if not isinstance(title, str) or not title.strip():
        violations.append(f"`title` must be a non-empty string, got {title!r}")
    stated = body.get("status")
    if stated != status or isinstance(stated, bool):
        violations.append(f"`status` must be {status} (the HTTP status), got {stated!r}")
    for member in _STRING_MEMBERS:
        if member in body and not isinstance(body[member], str):
            violations.append(f"`{member}`, when present, must be a string, got {body[member]!r}")
    code = body.get("code")
    if not isinstance(code, str) or not code:
        violations.append(f"`code` must be a non-empty string, got {code!r}")
    elif isinstance(problem_type, str) and not problem_type.endswith("/" + code):
        violations.append(f"`type` {problem_type!r} must name the `code` {code!r}")
    errors = body.get("errors")
    if "errors" in body and not (
        isinstance(errors, list) and all(isinstance(error, dict) for error in errors)
    ):
        violations.append(f"`errors`, when present, must be a list of objects, got {errors!r}")
    return violations


def _is_absolute_uri(value: str) -> bool:
    parts = urlsplit(value)
    return bool(parts.scheme) and (bool(parts.netloc) or value == "about:blank")


@schemathesis.check
def problem_json_errors(ctx: CheckContext, response: Response, case: AnyCase) -> bool | None:
    """Every 4xx/5xx answer is `application/problem+json` with a valid RFC 9457 body."""
    if response.status_code < 400:
        return None
    content_types = response.headers.get("content-type", [])
    violations = problem_violations(
        response.status_code, content_types[0] if content_types else None, response.content
    )
    if violations:
        raise AssertionError(
            f"{response.status_code} is not valid problem+json: " + "; ".join(violations)
        )
    return True
